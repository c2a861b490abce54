package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// SetPrimarySite makes siteID the person's primary site, listed first in
// their site_ids; ErrNotFound unless they belong to it.
func (t *tx) SetPrimarySite(personID, siteID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	var one int
	err := t.queryRow("SELECT 1 FROM person_sites WHERE person_id = ? AND site_id = ?", personID, siteID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("person %d is not at site %d: %w", personID, siteID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("find membership: %w", err)
	}
	if _, err := t.exec("UPDATE person_sites SET is_primary = CASE WHEN site_id = ? THEN 1 ELSE 0 END WHERE person_id = ?", siteID, personID); err != nil {
		return fmt.Errorf("set primary site: %w", err)
	}
	return t.event("SetPrimarySite", "person", personID, map[string]any{"site_id": siteID})
}

// primaryFirst moves the primary site, if any, to the front of ids
// (sorted otherwise).
func primaryFirst(ids []int64, primary sql.NullInt64) []int64 {
	i := slices.Index(ids, primary.Int64)
	if !primary.Valid || i <= 0 {
		return ids
	}
	return append([]int64{primary.Int64}, slices.Delete(ids, i, i+1)...)
}

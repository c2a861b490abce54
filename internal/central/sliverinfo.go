package central

import (
	"context"
	"fmt"
	"slices"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// addSliceInfo fills each sliver's description, URL and users' emails,
// which the node's traffic auditor pages show (paper 4.4.3: whoever saw
// odd traffic from a node finds the slice and mails its users).
func (s *nodeSource) addSliceInfo(ctx context.Context, slivers []api.Sliver) error {
	if len(slivers) == 0 {
		return nil
	}
	ids := make([]any, len(slivers))
	for i, sv := range slivers {
		ids[i] = sv.SliceID
	}
	var sls []api.Slice
	var persons []api.Person
	err := s.st.View(ctx, func(tx store.Tx) (err error) {
		if sls, err = tx.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: ids}}}); err != nil {
			return err
		}
		var pids []any
		for _, sl := range sls {
			for _, p := range sl.PersonIDs {
				pids = append(pids, p)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		persons, err = tx.Persons(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: pids}, {Field: "enabled", Op: store.Eq, Value: true}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("slice info: %w", err)
	}
	emails := map[int64]string{}
	for _, p := range persons {
		emails[p.PersonID] = p.Email
	}
	byID := map[int64]*api.Slice{}
	for i := range sls {
		byID[sls[i].SliceID] = &sls[i]
	}
	for i := range slivers {
		sv := &slivers[i]
		sl := byID[sv.SliceID]
		if sl == nil {
			continue
		}
		sv.Description, sv.URL = sl.Description, sl.URL
		for _, pid := range sl.PersonIDs {
			if e := emails[pid]; e != "" {
				sv.Emails = append(sv.Emails, e)
			}
		}
		slices.Sort(sv.Emails)
	}
	return nil
}

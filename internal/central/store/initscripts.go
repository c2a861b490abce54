package store

import (
	"database/sql"
	"fmt"
)

// InitScript is PLCAPI's initscript: a named boot script that a slice's
// initscript tag picks.
type InitScript struct {
	InitScriptID int64  `json:"initscript_id"`
	Name         string `json:"name"`
	Enabled      bool   `json:"enabled"`
	Script       string `json:"script"`
}

// initScriptTable is what an initscript Query may name.
var initScriptTable = &table{
	kind: "initscript", from: "initscripts t", pk: "t.initscript_id",
	cols: map[string]column{
		"initscript_id": {"t.initscript_id", kInt, false}, "name": {"t.name", kString, false},
		"enabled": {"t.enabled", kBool, false}, "script": {"t.script", kString, false},
	},
}

const initScriptCols = "t.initscript_id, t.name, t.enabled, t.script"

func scanInitScript(r *sql.Rows) (InitScript, error) {
	var s InitScript
	err := r.Scan(&s.InitScriptID, &s.Name, &s.Enabled, &s.Script)
	return s, err
}

// InitScripts lists initscripts.
func (t *tx) InitScripts(q Query) ([]InitScript, error) {
	return list(t, initScriptTable, initScriptCols, q, scanInitScript)
}

// AddInitScript adds an initscript; its name is unique.
func (t *tx) AddInitScript(s *InitScript) error {
	if err := t.writable(); err != nil {
		return err
	}
	id, err := t.insert("initscripts", "initscript_id", []string{"name", "enabled", "script"},
		[]any{s.Name, s.Enabled, s.Script}, fmt.Errorf("%w: initscript name %q exists", ErrConflict, s.Name))
	if err != nil {
		return err
	}
	s.InitScriptID = id
	return t.event("AddInitScript", "initscript", id, fields(s))
}

// UpdateInitScript writes every field of an initscript.
func (t *tx) UpdateInitScript(s *InitScript) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, initScriptTable, initScriptCols, "initscript_id", s.InitScriptID, scanInitScript)
	if err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: initscript name %q exists", ErrConflict, s.Name)
	if prev.Name != s.Name {
		if taken, err := t.taken("initscripts", "initscript_id", "name", false, s.Name, s.InitScriptID); err != nil {
			return err
		} else if taken {
			return conflict
		}
	}
	if err := t.update("initscripts", "initscript_id", s.InitScriptID, []string{"name", "enabled", "script"},
		[]any{s.Name, s.Enabled, s.Script}, conflict); err != nil {
		return err
	}
	return t.event("UpdateInitScript", "initscript", s.InitScriptID, changed(prev, s))
}

// DeleteInitScript deletes an initscript.
func (t *tx) DeleteInitScript(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, initScriptTable, initScriptCols, "initscript_id", id, scanInitScript)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM initscripts WHERE initscript_id = ?", id); err != nil {
		return fmt.Errorf("delete initscript: %w", err)
	}
	return t.event("DeleteInitScript", "initscript", id, fields(prev))
}

package plc

import (
	"context"
	"strings"

	"github.com/orbisproject/orbis/api"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Limits of initscripts, as PLCAPI's (the script's is the node's).
const maxInitScriptName = 254

var initScriptKind = newKind("initscript", store.InitScript{}, "initscript_id", "name")

func (s *Service) registerInitScripts() {
	s.add(method{name: "AddInitScript", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds an initscript {name, enabled, script} and returns its initscript_id. A slice's initscript tag names one; its initscript_code tag carries code instead, and wins.",
		call: s.addInitScript})
	s.add(method{name: "GetInitScripts", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the initscripts ({initscript_id, name, enabled, script}) that match the filter (an id, a name, a list of them, or a struct).",
		call: s.getInitScripts})
	s.add(method{name: "UpdateInitScript", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates an initscript's name, enabled or script. The nodes of the slices that name it get the change.",
		call: s.updateInitScript})
	s.add(method{name: "DeleteInitScript", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes an initscript (by initscript_id or name). Slices whose initscript tag names it run no initscript.",
		call: s.deleteInitScript})
}

func (s *Service) getInitScripts(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, initScriptKind, func(t *txn, q store.Query) ([]store.InitScript, error) { return t.InitScripts(q) },
		func(x *store.InitScript) any { return x.InitScriptID }, nil)
}

// setInitScriptFields reads an initscript's fields into is.
func setInitScriptFields(f *fieldSet, is *store.InitScript) error {
	if err := f.only("name", "enabled", "script"); err != nil {
		return err
	}
	f.str("name", &is.Name)
	f.bool("enabled", &is.Enabled)
	f.str("script", &is.Script)
	switch {
	case f.err != nil:
		return f.err
	case is.Name == "" || len(is.Name) > maxInitScriptName || strings.ContainsAny(is.Name, "\x00\n"):
		return Faultf(FaultInvalidArg, "%s.name: 1 to %d characters on one line", f.what, maxInitScriptName)
	case len(is.Script) > api.MaxInitScript:
		return Faultf(FaultInvalidArg, "%s.script: %d bytes (max %d, the node refuses longer)", f.what, len(is.Script), api.MaxInitScript)
	case strings.ContainsRune(is.Script, 0):
		return Faultf(FaultInvalidArg, "%s.script: contains a NUL byte", f.what)
	}
	return nil
}

func (s *Service) addInitScript(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "initscript_fields")
	if err != nil {
		return nil, err
	}
	is := store.InitScript{Enabled: true}
	if err := f.require("name", "script"); err != nil {
		return nil, err
	}
	if err := setInitScriptFields(f, &is); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if err := t.AddInitScript(&is); err != nil {
			return err
		}
		return t.bumpInitScriptUsers(is.Name)
	})
	return is.InitScriptID, err
}

func (s *Service) updateInitScript(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "initscript_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "initscript_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		is, err := t.initScript(id)
		if err != nil {
			return err
		}
		oldName := is.Name
		if err := setInitScriptFields(f, is); err != nil {
			return err
		}
		if err := t.UpdateInitScript(is); err != nil {
			return err
		}
		return t.bumpInitScriptUsers(oldName, is.Name)
	})
	return int64(1), err
}

func (s *Service) deleteInitScript(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "initscript_id_or_name")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		is, err := t.initScript(ref)
		if err != nil {
			return err
		}
		if err := t.DeleteInitScript(is.InitScriptID); err != nil {
			return err
		}
		return t.bumpInitScriptUsers(is.Name)
	})
	return int64(1), err
}

// initScript finds an initscript by initscript_id or name.
func (t *txn) initScript(ref any) (*store.InitScript, error) {
	recs, err := t.InitScripts(refQuery(initScriptKind, ref))
	return one(initScriptKind, ref, recs, err)
}

// bumpInitScriptUsers bumps the nodes of the slices whose initscript tag
// names one of names: what they run changed.
func (t *txn) bumpInitScriptUsers(names ...string) error {
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{
		{Field: "tagname", Op: store.Eq, Value: "initscript"},
		{Field: "value", Op: store.Eq, Value: anyList(names)},
	}})
	if err != nil || len(tags) == 0 {
		return err
	}
	ids := map[int64]bool{}
	for _, tag := range tags {
		ids[tag.SliceID] = true
	}
	sls, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: setList(ids)}}})
	for _, sl := range sls {
		t.bump(sl.NodeIDs...)
	}
	return err
}

// resolveInitScripts gives the Orbis node channel's slivers the code they
// boot with as their initscript attribute (the node runs that attribute):
// an initscript_code tag's value; else the script of the enabled
// initscript the initscript tag names (none if it names a disabled one);
// else the initscript tag's value itself, code as Orbis has always taken
// it. GetSlivers in PlanetLab's shape keeps the tags as they are and
// lists the initscripts, for NodeManager to resolve the same way.
func resolveInitScripts(svs []api.Sliver, scripts []store.InitScript) {
	byName := map[string]*store.InitScript{}
	for i := range scripts {
		byName[scripts[i].Name] = &scripts[i]
	}
	for i := range svs {
		code, named, hasCode := "", -1, false
		for j, a := range svs[i].Attributes {
			switch a.TagName {
			case "initscript_code":
				code, hasCode = a.Value, true
			case "initscript":
				named = j
			}
		}
		if named < 0 {
			if hasCode {
				svs[i].Attributes = append(svs[i].Attributes, api.Attribute{TagName: "initscript", Value: code})
			}
			continue
		}
		a := &svs[i].Attributes[named]
		switch is, ok := byName[a.Value]; {
		case hasCode:
			a.Value = code
		case ok && is.Enabled:
			a.Value = is.Script
		case ok:
			a.Value = ""
		}
	}
}

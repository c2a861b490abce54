package plc

import (
	"context"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var confFileKind = newKind("conf file", store.ConfFile{}, "conf_file_id", "")

// confFileLimits are PLCAPI's bounds on a conf file's text fields.
var confFileLimits = map[string]int{
	"source": 255, "dest": 255, "file_permissions": 20, "file_owner": 50, "file_group": 50,
	"preinstall_cmd": 1024, "postinstall_cmd": 1024, "error_cmd": 1024,
}

func (s *Service) registerConfFiles() {
	s.add(method{name: "AddConfFile", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds a configuration file {source, dest, file_permissions, file_owner, file_group, preinstall_cmd, postinstall_cmd, error_cmd, ignore_cmd_errors, always_update, enabled} and returns its conf_file_id. A file linked to no node nor node group goes to every node. Orbis nodes do not install conf files: GetSlivers hands them to PlanetLab's NodeManager, which does. Any dest is stored, as PLCAPI does, but GetSlivers hands a node only files whose dest is a clean absolute path (no '..', '.', '//'), so that none is written outside the path named.",
		call: s.addConfFile})
	s.add(method{name: "GetConfFiles", roles: rolesNode, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the configuration files that match the filter (a conf_file_id, a list of them, or a struct).",
		call: s.getConfFiles})
	s.add(method{name: "UpdateConfFile", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a configuration file's fields (those of AddConfFile).",
		call: s.updateConfFile})
	s.add(method{name: "DeleteConfFile", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a configuration file.",
		call: s.deleteConfFile})
	s.add(method{name: "AddConfFileToNode", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Links a configuration file to a node (node_id or hostname): it then goes to the nodes linked only.",
		call: s.linkConfFile(true)})
	s.add(method{name: "DeleteConfFileFromNode", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Removes a configuration file's link to a node (node_id or hostname).",
		call: s.linkConfFile(false)})
	s.add(method{name: "AddConfFileToNodeGroup", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Links a configuration file to a node group (nodegroup_id or groupname): it then goes to the group's nodes (a file linked to a node wins over a group's of the same dest).",
		call: s.linkConfFileGroup(true)})
	s.add(method{name: "DeleteConfFileFromNodeGroup", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Removes a configuration file's link to a node group (nodegroup_id or groupname).",
		call: s.linkConfFileGroup(false)})
}

func (s *Service) getConfFiles(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, confFileKind, func(t *txn, q store.Query) ([]store.ConfFile, error) { return t.ConfFiles(q) },
		func(x *store.ConfFile) any { return x.ConfFileID }, nil)
}

// setConfFileFields reads a conf file's fields into cf.
func setConfFileFields(f *fieldSet, cf *store.ConfFile) error {
	if err := f.only("enabled", "source", "dest", "file_permissions", "file_owner", "file_group",
		"preinstall_cmd", "postinstall_cmd", "error_cmd", "ignore_cmd_errors", "always_update"); err != nil {
		return err
	}
	f.bool("enabled", &cf.Enabled)
	f.str("source", &cf.Source)
	f.str("dest", &cf.Dest)
	f.str("file_permissions", &cf.FilePermissions)
	f.str("file_owner", &cf.FileOwner)
	f.str("file_group", &cf.FileGroup)
	f.str("preinstall_cmd", &cf.PreinstallCmd)
	f.str("postinstall_cmd", &cf.PostinstallCmd)
	f.str("error_cmd", &cf.ErrorCmd)
	f.bool("ignore_cmd_errors", &cf.IgnoreCmdErrors)
	f.bool("always_update", &cf.AlwaysUpdate)
	if f.err != nil {
		return f.err
	}
	for name, v := range map[string]string{"source": cf.Source, "dest": cf.Dest, "file_permissions": cf.FilePermissions,
		"file_owner": cf.FileOwner, "file_group": cf.FileGroup, "preinstall_cmd": cf.PreinstallCmd,
		"postinstall_cmd": cf.PostinstallCmd, "error_cmd": cf.ErrorCmd} {
		if len(v) > confFileLimits[name] || strings.ContainsRune(v, 0) {
			return Faultf(FaultInvalidArg, "%s.%s: at most %d characters, no NUL", f.what, name, confFileLimits[name])
		}
	}
	switch {
	case cf.Source == "":
		return Faultf(FaultInvalidArg, "%s.source: required (a path on the boot server)", f.what)
	case cf.Dest == "":
		return Faultf(FaultInvalidArg, "%s.dest: required (where the node installs the file)", f.what)
	case !octalMode(cf.FilePermissions):
		return Faultf(FaultInvalidArg, "%s.file_permissions: %q is not an octal mode (0 to 7777, as 644, 0644 or 0o644)", f.what, cf.FilePermissions)
	}
	return nil
}

func (s *Service) addConfFile(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "conf_file_fields")
	if err != nil {
		return nil, err
	}
	cf := store.ConfFile{Enabled: true, FilePermissions: "644", FileOwner: "root", FileGroup: "root"}
	if err := setConfFileFields(f, &cf); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error { return t.AddConfFile(&cf) })
	return cf.ConfFileID, err
}

func (s *Service) updateConfFile(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "conf_file_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "conf_file_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		cf, err := t.confFile(id)
		if err != nil {
			return err
		}
		if err := setConfFileFields(f, cf); err != nil {
			return err
		}
		return t.UpdateConfFile(cf)
	})
	return int64(1), err
}

func (s *Service) deleteConfFile(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "conf_file_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if _, err := t.confFile(id); err != nil {
			return err
		}
		return t.DeleteConfFile(id)
	})
	return int64(1), err
}

// linkConfFile is AddConfFileToNode (add) or DeleteConfFileFromNode.
func (s *Service) linkConfFile(add bool) func(ctx context.Context, c *Caller, args []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		id, err := argInt(args, 0, "conf_file_id")
		if err != nil {
			return nil, err
		}
		ref, err := argRef(args, 1, "node_id_or_hostname")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			if _, err := t.confFile(id); err != nil {
				return err
			}
			n, err := t.node(ref)
			if err != nil {
				return err
			}
			if add {
				return t.AddConfFileToNode(id, n.NodeID)
			}
			return t.DeleteConfFileFromNode(id, n.NodeID)
		})
		return int64(1), err
	}
}

// octalMode reports whether m is a chmod mode in octal, with or without
// a 0 or Python 3's 0o prefix (NodeManager reads it with int(m, 8), which
// takes both).
func octalMode(m string) bool {
	digits := strings.TrimPrefix(strings.TrimPrefix(m, "0o"), "0O")
	n, err := strconv.ParseUint(digits, 8, 32)
	return digits != "" && err == nil && n <= 0o7777
}

// linkConfFileGroup is AddConfFileToNodeGroup (add) or
// DeleteConfFileFromNodeGroup.
func (s *Service) linkConfFileGroup(add bool) func(ctx context.Context, c *Caller, args []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		id, err := argInt(args, 0, "conf_file_id")
		if err != nil {
			return nil, err
		}
		ref, err := argRef(args, 1, "nodegroup_id_or_name")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			if _, err := t.confFile(id); err != nil {
				return err
			}
			g, err := t.nodeGroup(ref)
			if err != nil {
				return err
			}
			if add {
				return t.AddConfFileToNodeGroup(id, g.NodeGroupID)
			}
			return t.DeleteConfFileFromNodeGroup(id, g.NodeGroupID)
		})
		return int64(1), err
	}
}

// confFile finds a conf file by conf_file_id.
func (t *txn) confFile(id int64) (*store.ConfFile, error) {
	recs, err := t.ConfFiles(store.ByID("conf_file_id", id))
	return one(confFileKind, id, recs, err)
}

// nodeConfFiles are the enabled conf files for node n, as PLCAPI picks
// them: those linked to no node nor group, then those linked to one of
// its node groups, then those linked to n, one per dest (a closer link
// wins). A file whose dest is no clean absolute path (safeConfDest) is
// left out: PLCAPI stores any dest, but no node is told to write one.
func (t *txn) nodeConfFiles(n *api.Node) ([]store.ConfFile, error) {
	all, err := t.ConfFiles(store.Query{Conds: []store.Cond{{Field: "enabled", Op: store.Eq, Value: true}}, Sort: []string{"conf_file_id"}})
	if err != nil {
		return nil, err
	}
	byDest := map[string]int{}
	var out []store.ConfFile
	put := func(cf store.ConfFile) {
		if !safeConfDest(cf.Dest) {
			t.s.log.Debug("conf file left out of GetSlivers: dest is no clean absolute path", "conf_file_id", cf.ConfFileID, "dest", cf.Dest)
			return
		}
		if i, ok := byDest[cf.Dest]; ok {
			out[i] = cf
			return
		}
		byDest[cf.Dest] = len(out)
		out = append(out, cf)
	}
	inGroup := func(cf store.ConfFile) bool {
		return slices.ContainsFunc(cf.NodeGroupIDs, func(g int64) bool { return slices.Contains(n.NodeGroupIDs, g) })
	}
	for _, cf := range all {
		if len(cf.NodeIDs) == 0 && len(cf.NodeGroupIDs) == 0 {
			put(cf)
		}
	}
	for _, cf := range all {
		if inGroup(cf) {
			put(cf)
		}
	}
	for _, cf := range all {
		if slices.Contains(cf.NodeIDs, n.NodeID) {
			put(cf)
		}
	}
	return out, nil
}

// safeConfDest reports whether a node may install a file at dest: an
// absolute path, already clean (no "..", ".", "//" or trailing "/"), of
// printable characters. NodeManager writes dest as it is given, so a
// relative dest would land wherever NodeManager runs, and "/etc/../x" is
// not the file the admin was shown.
func safeConfDest(dest string) bool {
	if len(dest) < 2 || dest[0] != '/' || path.Clean(dest) != dest {
		return false
	}
	return !strings.ContainsFunc(dest, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

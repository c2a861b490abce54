package plc

import (
	"context"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// The methods PlanetLab's BootManager calls as a node, and
// GetNodeFlavour, which tells it what to install. Orbis nodes boot their
// own way and call none of them; central answers them from the node's
// record so that PlanetLab's tools that do still work.

func (s *Service) registerBoot() {
	s.add(method{name: "GetNodeFlavour", roles: []string{"admin", "user", "node"}, min: 1, max: 1, sig: []string{"struct", "int"},
		help: "Returns a node's (by node_id or hostname) flavour from its tags: nodefamily (its deployment tag, else pldistro-fcdistro-arch), fcdistro, pldistro, arch, virt (lxc: Orbis's slivers are containers), extensions (its extensions tag's words, each with -fcdistro-arch) and plain (its plain-bootstrapfs tag is set). Defaults are GetSliceFamily's.",
		call: s.getNodeFlavour})
	s.add(method{name: "BootGetNodeDetails", roles: []string{"node"}, sig: []string{"struct"},
		help: "Returns the calling node's hostname, boot_state, model, networks (its interfaces) and a new session (GetSession's).",
		call: s.bootGetNodeDetails})
	s.add(method{name: "BootUpdateNode", roles: []string{"node"}, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "The calling node sets its boot_state (one of GetBootStates'). Orbis keeps no ssh host keys (ssh_rsa_key, ssh_host_key) and lets a node change no interface (primary_network): it refuses them.",
		call: s.bootUpdateNode})
	s.add(method{name: "ReportRunlevel", roles: rolesNode, min: 1, max: 2, sig: []string{"int", "struct", "int"},
		help: "A node reports its run_level (an admin names the node, by node_id or hostname, second). Orbis keeps no run levels: it checks the call and logs the report.",
		call: s.reportRunlevel})
}

func (s *Service) getNodeFlavour(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	names := []string{"arch", "pldistro", "fcdistro", "deployment", "extensions", "plain-bootstrapfs"}
	var tags map[string]string
	err = s.view(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		values, err := t.tagValues("node", []any{n.NodeID}, names)
		tags = values[n.NodeID]
		return err
	})
	if err != nil {
		return nil, err
	}
	get := func(name, def string) string {
		if v := tags[name]; v != "" {
			return v
		}
		return def
	}
	arch, pldistro, fcdistro := get("arch", defaultArch), get("pldistro", defaultPldistro), get("fcdistro", defaultFcdistro)
	extensions := []any{}
	for _, e := range strings.Fields(tags["extensions"]) {
		extensions = append(extensions, e+"-"+fcdistro+"-"+arch)
	}
	return map[string]any{
		"nodefamily": get("deployment", pldistro+"-"+fcdistro+"-"+arch),
		"fcdistro":   fcdistro, "pldistro": pldistro, "arch": arch, "virt": "lxc",
		"extensions": extensions, "plain": tags["plain-bootstrapfs"] != "",
	}, nil
}

func (s *Service) bootGetNodeDetails(ctx context.Context, c *Caller, args []any) (any, error) {
	var n *api.Node
	var ifs []any
	err := s.view(ctx, c, func(t *txn) error {
		var err error
		n, err = t.node(c.NodeID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(n.InterfaceIDs) > 0 {
		v, err := s.getInterfaces(ctx, c, []any{idsOf(n.InterfaceIDs)})
		if err != nil {
			return nil, err
		}
		ifs, _ = v.([]any)
	}
	session, err := s.getSession(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"hostname": n.Hostname, "boot_state": n.BootState, "model": n.Model, "session": session}
	if ifs != nil {
		details["networks"] = ifs
	}
	return details, nil
}

func (s *Service) bootUpdateNode(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "node_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only("boot_state"); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		n, err := t.node(c.NodeID)
		if err != nil {
			return err
		}
		if err := setNodeFields(f, n); err != nil {
			return err
		}
		return t.UpdateNode(n)
	})
	return int64(1), err
}

func (s *Service) reportRunlevel(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "report_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only("run_level"); err != nil {
		return nil, err
	}
	var level string
	f.str("run_level", &level)
	if f.err != nil {
		return nil, f.err
	}
	if level != "" && !slices.Contains(bootStates, level) {
		return nil, Faultf(FaultInvalidArg, "report_fields.run_level: %q (want one of %v)", level, bootStates)
	}
	var ref any = c.NodeID
	if c.NodeID == 0 {
		if ref, err = argRef(args, 1, "node_id_or_hostname"); err != nil {
			return nil, err
		}
	}
	err = s.view(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err == nil {
			s.log.Info("node reports its run level", "node", n.NodeID, "hostname", n.Hostname, "run_level", level)
		}
		return err
	})
	return int64(1), err
}

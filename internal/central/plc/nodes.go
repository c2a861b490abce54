package plc

import (
	"context"
	"net"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// hostnameRE is a DNS name (or a single label, for test beds).
var hostnameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
})

var (
	nodeFields = []string{"hostname", "node_type", "boot_state", "version", "model", "ip"}
	nodeTypes  = []string{"regular", "reservable"}
	bootStates = []string{"boot", "safeboot", "reinstall", "disabled", "failboot"}
)

// NodeTokenTTL is how long a registration token from AddNodeToken lasts.
const NodeTokenTTL = 24 * time.Hour

func (s *Service) registerNodes() {
	s.add(method{name: "GetNodes", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the nodes that match the filter (an id, a hostname, a list of them, or a struct).",
		call: s.getNodes})
	s.add(method{name: "AddNode", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Adds a node (hostname required) to a site (by site_id or login_base) and returns its node_id. Admins, and PIs and techs of the site. AddNodeToken then gives the token the node registers with.",
		call: s.addNode})
	s.add(method{name: "UpdateNode", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a node (by node_id or hostname): hostname, node_type, boot_state, version, model, ip.",
		call: s.updateNode})
	s.add(method{name: "DeleteNode", roles: rolesNodes, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a node (by node_id or hostname).",
		call: s.deleteNode})
	s.add(method{name: "AddNodeToken", roles: rolesNodes, min: 1, max: 1, sig: []string{"string", "int"},
		help: "Returns a one-time token, good for 24 hours, with which the node (by node_id or hostname) registers and receives its secret.",
		call: s.addNodeToken})
}

func (s *Service) getNodes(ctx context.Context, c *Caller, args []any) (any, error) {
	return taggedGetter(s, ctx, c, args, nodeKind, "node", "node_id", func(t *txn, q store.Query) ([]api.Node, error) { return t.Nodes(q) },
		func(x *api.Node) any { return x.NodeID })
}

func (s *Service) addNode(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "node_fields")
	if err != nil {
		return nil, err
	}
	tags, err := splitTagFields(f, "node")
	if err != nil {
		return nil, err
	}
	if err := f.only(nodeFields...); err != nil {
		return nil, err
	}
	if err := f.require("hostname"); err != nil {
		return nil, err
	}
	n := api.Node{NodeType: "regular", BootState: "boot"}
	if err := setNodeFields(f, &n); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(site.SiteID, "add a node to site "+site.LoginBase); err != nil {
			return err
		}
		n.SiteID = site.SiteID
		if err := t.AddNode(&n); err != nil {
			return err
		}
		return nodeTags.setAll(t, &n, tags)
	})
	return n.NodeID, err
}

func setNodeFields(f *fieldSet, n *api.Node) error {
	f.str("hostname", &n.Hostname)
	f.str("node_type", &n.NodeType)
	f.str("boot_state", &n.BootState)
	f.str("version", &n.Version)
	f.str("model", &n.Model)
	f.str("ip", &n.IP)
	if f.err != nil {
		return f.err
	}
	switch {
	case len(n.Hostname) > 253 || !hostnameRE().MatchString(n.Hostname):
		return Faultf(FaultInvalidArg, "node_fields.hostname: %q is not a host name", n.Hostname)
	case !slices.Contains(nodeTypes, n.NodeType):
		return Faultf(FaultInvalidArg, "node_fields.node_type: %q (want one of %v)", n.NodeType, nodeTypes)
	case !slices.Contains(bootStates, n.BootState):
		return Faultf(FaultInvalidArg, "node_fields.boot_state: %q (want one of %v)", n.BootState, bootStates)
	case n.IP != "" && net.ParseIP(n.IP) == nil:
		return Faultf(FaultInvalidArg, "node_fields.ip: %q is not an IP address", n.IP)
	case len(n.Version) > 256:
		return Faultf(FaultInvalidArg, "node_fields.version: longer than 256")
	case len(n.Model) > 255:
		return Faultf(FaultInvalidArg, "node_fields.model: longer than 255 bytes")
	}
	return nil
}

func (s *Service) updateNode(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "node_fields")
	if err != nil {
		return nil, err
	}
	tags, err := splitTagFields(f, "node")
	if err != nil {
		return nil, err
	}
	if err := f.only(nodeFields...); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(n.SiteID, "update node "+n.Hostname); err != nil {
			return err
		}
		prevType := n.NodeType
		if err := setNodeFields(f, n); err != nil {
			return err
		}
		if n.NodeType != prevType {
			t.bump(n.NodeID) // leases start or stop applying (reservation.go)
		}
		if err := t.UpdateNode(n); err != nil {
			return err
		}
		return nodeTags.setAll(t, n, tags)
	})
	return int64(1), err
}

func (s *Service) deleteNode(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(n.SiteID, "delete node "+n.Hostname); err != nil {
			return err
		}
		t.notified = append(t.notified, n.NodeID)
		return t.DeleteNode(n.NodeID)
	})
	return int64(1), err
}

func (s *Service) addNodeToken(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	token := randomHex(32)
	err = s.update(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(n.SiteID, "make a registration token for node "+n.Hostname); err != nil {
			return err
		}
		return t.AddNodeToken(n.NodeID, sha256Hex(token), t.now+int64(NodeTokenTTL/time.Second))
	})
	if err != nil {
		return nil, err
	}
	return token, nil
}

package plc

import (
	"context"
	"fmt"
	"net"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxPCUsPerSite bounds the PCUs a site's PI or tech may add.
const maxPCUsPerSite = 32

var (
	pcuKind = newKind("pcu", api.PCU{}, "pcu_id", "")
	// pcuLimits are PLCAPI's longest PCU fields, in characters.
	pcuLimits = []fieldLimit{{"hostname", 254}, {"ip", 254}, {"protocol", 16}, {"username", 254}, {"password", 254}, {"notes", 254}, {"model", 32}}
)

// pcuHelp says what Orbis does with a PCU.
const pcuHelp = " Orbis keeps PCU records for their site, as PLCAPI does, and never powers a node through one."

func (s *Service) registerPCUs() {
	s.add(method{name: "GetPCUs", roles: []string{"admin", "pi", "tech", "node"}, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the power control units that match the filter (a pcu_id, a list of them, or a struct), with their credentials: admins see all, PIs and techs their sites', a node its own." + pcuHelp,
		call: s.getPCUs})
	s.add(method{name: "AddPCU", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: fmt.Sprintf("Adds a power control unit to a site (by site_id or login_base) and returns its pcu_id: hostname, ip, protocol, username, password, notes, model. Admins, and PIs and techs of the site; at most %d per site.", maxPCUsPerSite) + pcuHelp,
		call: s.addPCU})
	s.add(method{name: "UpdatePCU", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a power control unit, with AddPCU's fields and rights." + pcuHelp,
		call: s.updatePCU})
	s.add(method{name: "DeletePCU", roles: rolesNodes, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a power control unit, with AddPCU's rights." + pcuHelp,
		call: s.deletePCU})
	s.add(method{name: "AddNodeToPCU", roles: rolesNodes, min: 3, max: 3, sig: []string{"int", "int", "int", "int"},
		help: "Puts a node (by node_id or hostname) of the PCU's site on a port of the PCU; a port holds one node, a node is on a PCU once." + pcuHelp,
		call: s.addNodeToPCU})
	s.add(method{name: "DeleteNodeFromPCU", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Takes a node (by node_id or hostname) off a PCU." + pcuHelp,
		call: s.deleteNodeFromPCU})
}

func (s *Service) getPCUs(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, pcuKind, func(t *txn, q store.Query) ([]api.PCU, error) { return t.PCUs(q) },
		func(x *api.PCU) any { return x.PCUID },
		func(t *txn) (restriction, error) {
			switch {
			case c.IsAdmin():
				return restriction{}, nil
			case c.NodeID != 0:
				return restriction{conds: []store.Cond{{Field: "node_ids", Op: store.Eq, Value: c.NodeID}}}, nil
			}
			return inRestriction("site_id", anyList(c.SiteIDs), false), nil
		})
}

func (s *Service) addPCU(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "pcu_fields")
	if err != nil {
		return nil, err
	}
	p := api.PCU{}
	if err := setPCUFields(f, &p); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(site.SiteID, "add a PCU to site "+site.LoginBase); err != nil {
			return err
		}
		have, err := t.PCUs(store.Query{Conds: []store.Cond{{Field: "site_id", Op: store.Eq, Value: site.SiteID}}})
		if err != nil {
			return err
		}
		if len(have) >= maxPCUsPerSite {
			return Faultf(FaultInvalidArg, "site %s has %d PCUs already (at most %d)", site.LoginBase, len(have), maxPCUsPerSite)
		}
		p.SiteID = site.SiteID
		return t.AddPCU(&p)
	})
	return p.PCUID, err
}

func (s *Service) updatePCU(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "pcu_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "pcu_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.ownPCU(id, "update")
		if err != nil {
			return err
		}
		if err := setPCUFields(f, p); err != nil {
			return err
		}
		return t.UpdatePCU(p)
	})
	return int64(1), err
}

func (s *Service) deletePCU(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "pcu_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if _, err := t.ownPCU(id, "delete"); err != nil {
			return err
		}
		return t.DeletePCU(id)
	})
	return int64(1), err
}

func (s *Service) addNodeToPCU(ctx context.Context, c *Caller, args []any) (any, error) {
	return s.pcuNode(ctx, c, args, true)
}

func (s *Service) deleteNodeFromPCU(ctx context.Context, c *Caller, args []any) (any, error) {
	return s.pcuNode(ctx, c, args, false)
}

// pcuNode runs AddNodeToPCU (add) or DeleteNodeFromPCU.
func (s *Service) pcuNode(ctx context.Context, c *Caller, args []any, add bool) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	id, err := argInt(args, 1, "pcu_id")
	if err != nil {
		return nil, err
	}
	var port int64
	if add {
		if port, err = argInt(args, 2, "port"); err != nil {
			return nil, err
		}
		if port < 0 || port > 1<<16-1 {
			return nil, Faultf(FaultInvalidArg, "port: %d (want 0 to %d)", port, 1<<16-1)
		}
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.ownPCU(id, "change")
		if err != nil {
			return err
		}
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		if !add {
			return t.DeleteNodeFromPCU(n.NodeID, p.PCUID)
		}
		if n.SiteID != p.SiteID {
			return Faultf(FaultInvalidArg, "node %s is at another site than PCU %d", n.Hostname, p.PCUID)
		}
		return t.AddNodeToPCU(n.NodeID, p.PCUID, port)
	})
	return int64(1), err
}

// ownPCU returns PCU id if the caller may manage its site's nodes.
func (t *txn) ownPCU(id int64, what string) (*api.PCU, error) {
	l, err := t.PCUs(store.ByID("pcu_id", id))
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, noSuch(pcuKind, id)
	}
	return &l[0], t.mayManageNodes(l[0].SiteID, fmt.Sprintf("%s PCU %d", what, id))
}

// setPCUFields reads pcu_fields over p and checks them.
func setPCUFields(f *fieldSet, p *api.PCU) error {
	dst := map[string]*string{"hostname": &p.Hostname, "ip": &p.IP, "protocol": &p.Protocol, "username": &p.Username,
		"password": &p.Password, "notes": &p.Notes, "model": &p.Model}
	if err := readLimited(f, pcuLimits, dst); err != nil {
		return err
	}
	switch {
	case p.IP != "" && net.ParseIP(p.IP) == nil:
		return Faultf(FaultInvalidArg, "pcu_fields.ip: %q is not an IP address", p.IP)
	case p.Hostname != "" && !hostnameRE().MatchString(p.Hostname):
		return Faultf(FaultInvalidArg, "pcu_fields.hostname: %q is not a host name", p.Hostname)
	}
	return nil
}

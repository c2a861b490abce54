package plc

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// PLCAPI's network methods and types, as GetNetworkMethods and
// GetNetworkTypes list them.
var (
	networkMethods = []string{"static", "dhcp", "proxy", "tap", "ipmi", "unknown"}
	networkTypes   = []string{"ipv4", "ipv6"}
)

// maxInterfacesPerNode bounds the interfaces a node's PI or tech may add:
// every one is stored and listed with the node (GetNodes' interface_ids,
// GetInterfaces). No sliver list holds them (GetSlivers' interfaces is the
// node's own address), so changing one wakes no node.
const maxInterfacesPerNode = 16

// minBWLimit is PLCAPI's least interface bandwidth limit, 500 kbit/s.
const minBWLimit = 500000

var (
	interfaceKind   = newKind("interface", api.Interface{}, "interface_id", "")
	interfaceFields = []string{"is_primary", "type", "method", "ip", "mac", "gateway", "network",
		"broadcast", "netmask", "dns1", "dns2", "bwlimit", "hostname"}
)

func (s *Service) registerInterfaces() {
	s.add(method{name: "GetInterfaces", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the network interfaces that match the filter (an interface_id, a list of them, or a struct; the interface accessor tags, ifname, driver, alias..., are filter keys and return fields). Orbis keeps them as PLCAPI does; its nodes configure their own network and do not read them.",
		call: s.getInterfaces})
	s.add(method{name: "AddInterface", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: fmt.Sprintf("Adds a network interface to a node (by node_id or hostname) and returns its interface_id: method (%s), type (%s), ip, mac, gateway, network, broadcast, netmask, dns1, dns2, bwlimit (bit/s, at least %d), hostname, is_primary (the node's first interface is), and the interface accessor tags (ifname, driver, alias..., with AddInterfaceTag's rights). A static interface needs ip and netmask. Admins, and PIs and techs of the node's site; at most %d per node.",
			strings.Join(networkMethods, ", "), strings.Join(networkTypes, ", "), minBWLimit, maxInterfacesPerNode),
		call: s.addInterface})
	s.add(method{name: "UpdateInterface", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a network interface, with AddInterface's fields and rights.",
		call: s.updateInterface})
	s.add(method{name: "DeleteInterface", roles: rolesNodes, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a network interface, with AddInterface's rights.",
		call: s.deleteInterface})
	s.add(method{name: "GetNetworkMethods", roles: rolesAll, sig: []string{"array"},
		help: "Returns the methods an interface may have: " + strings.Join(networkMethods, ", ") + ".",
		call: constList(networkMethods)})
	s.add(method{name: "GetNetworkTypes", roles: rolesAll, sig: []string{"array"},
		help: "Returns the types an interface may have: " + strings.Join(networkTypes, ", ") + ".",
		call: constList(networkTypes)})
}

// constList is the call of a method that returns a fixed list of names.
func constList(names []string) func(context.Context, *Caller, []any) (any, error) {
	return func(context.Context, *Caller, []any) (any, error) {
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = n
		}
		return out, nil
	}
}

func (s *Service) getInterfaces(ctx context.Context, c *Caller, args []any) (any, error) {
	return taggedGetter(s, ctx, c, args, interfaceKind, "interface", "interface_id", func(t *txn, q store.Query) ([]api.Interface, error) { return t.Interfaces(q) },
		func(x *api.Interface) any { return x.InterfaceID })
}

func (s *Service) addInterface(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "interface_fields")
	if err != nil {
		return nil, err
	}
	tags, err := splitTagFields(f, "interface")
	if err != nil {
		return nil, err
	}
	if err := f.require("method", "type"); err != nil {
		return nil, err
	}
	i := api.Interface{}
	if err := setInterfaceFields(f, &i); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageNodes(n.SiteID, "add an interface to node "+n.Hostname); err != nil {
			return err
		}
		switch {
		case len(n.InterfaceIDs) >= maxInterfacesPerNode:
			return Faultf(FaultInvalidArg, "node %s has %d interfaces already (at most %d)", n.Hostname, len(n.InterfaceIDs), maxInterfacesPerNode)
		case len(n.InterfaceIDs) == 0:
			i.IsPrimary = true
		}
		i.NodeID = n.NodeID
		if err := t.AddInterface(&i); err != nil {
			return err
		}
		return interfaceTags.setAll(t, &i, tags)
	})
	return i.InterfaceID, err
}

func (s *Service) updateInterface(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "interface_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "interface_fields")
	if err != nil {
		return nil, err
	}
	tags, err := splitTagFields(f, "interface")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		i, err := t.ownInterface(id, "update an interface of")
		if err != nil {
			return err
		}
		if err := setInterfaceFields(f, i); err != nil {
			return err
		}
		if err := t.UpdateInterface(i); err != nil {
			return err
		}
		return interfaceTags.setAll(t, i, tags)
	})
	return int64(1), err
}

func (s *Service) deleteInterface(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "interface_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if _, err := t.ownInterface(id, "delete an interface of"); err != nil {
			return err
		}
		return t.DeleteInterface(id)
	})
	return int64(1), err
}

// ownInterface returns interface id if the caller may manage its node.
func (t *txn) ownInterface(id int64, what string) (*api.Interface, error) {
	i, err := t.iface(id)
	if err != nil {
		return nil, err
	}
	return i, t.mayManageInterface(i, what)
}

// setInterfaceFields reads interface_fields over i and checks the result
// as PLCAPI does: known method and type, addresses of one family, a
// static interface's network and broadcast consistent with its ip and
// netmask, and its gateway inside.
func setInterfaceFields(f *fieldSet, i *api.Interface) error {
	if err := f.only(interfaceFields...); err != nil {
		return err
	}
	f.bool("is_primary", &i.IsPrimary)
	for _, a := range interfaceStrings(i) {
		f.str(a.name, a.dst)
	}
	f.optInt("bwlimit", &i.BWLimit)
	if f.err != nil {
		return f.err
	}
	return checkInterface(i)
}

func checkInterface(i *api.Interface) error {
	bad := func(field, format string, args ...any) error {
		return Faultf(FaultInvalidArg, "interface_fields.%s: "+format, append([]any{field}, args...)...)
	}
	switch {
	case !slices.Contains(networkMethods, i.Method):
		return bad("method", "%q (want one of %v)", i.Method, networkMethods)
	case !slices.Contains(networkTypes, i.Type):
		return bad("type", "%q (want one of %v)", i.Type, networkTypes)
	case i.BWLimit != nil && *i.BWLimit < minBWLimit:
		return bad("bwlimit", "%d bit/s (at least %d, or None for no limit)", *i.BWLimit, minBWLimit)
	case i.Hostname != "" && (len(i.Hostname) > 253 || !hostnameRE().MatchString(i.Hostname)):
		return bad("hostname", "%q is not a host name", i.Hostname)
	}
	if i.MAC != "" {
		mac, err := net.ParseMAC(i.MAC)
		if err != nil {
			return bad("mac", "%q is not a MAC address", i.MAC)
		}
		i.MAC = strings.ToUpper(mac.String())
	}
	// PLCAPI's type is a label: its addresses are IPv4 whatever the type
	// (an IPv6 address goes in the ipv6addr interface tag), and Orbis's
	// nodes configure their own network and never read these. An address
	// of either family is kept, but one interface's addresses are of one
	// family.
	family := ""
	for _, a := range interfaceStrings(i) {
		if !a.addr || *a.dst == "" {
			continue
		}
		ip := net.ParseIP(*a.dst)
		if ip == nil {
			return bad(a.name, "%q is not an IP address", *a.dst)
		}
		f := addrFamily(ip)
		if family != "" && f != family {
			return bad(a.name, "%q is an %s address, but the interface's other addresses are %s", *a.dst, f, family)
		}
		family = f
	}
	if i.Method == "static" {
		return checkStatic(i, family)
	}
	return nil
}

// stringField is an interface's string field: its name, where it is,
// and whether it holds an address.
type stringField struct {
	name string
	dst  *string
	addr bool
}

func interfaceStrings(i *api.Interface) []stringField {
	return []stringField{
		{"type", &i.Type, false}, {"method", &i.Method, false}, {"ip", &i.IP, true}, {"mac", &i.MAC, false},
		{"gateway", &i.Gateway, true}, {"network", &i.Network, true}, {"broadcast", &i.Broadcast, true},
		{"netmask", &i.Netmask, true}, {"dns1", &i.DNS1, true}, {"dns2", &i.DNS2, true}, {"hostname", &i.Hostname, false},
	}
}

// addrFamily is ip's family: ipv4 or ipv6.
func addrFamily(ip net.IP) string {
	if ip.To4() != nil {
		return "ipv4"
	}
	return "ipv6"
}

// checkStatic checks a static interface's addresses (of family) against
// each other: PLCAPI's ip, netmask, network and broadcast consistent, the
// gateway inside (for IPv4 addresses, as PLCAPI checks them).
func checkStatic(i *api.Interface, family string) error {
	if i.IP == "" || i.Netmask == "" {
		return Faultf(FaultInvalidArg, "interface_fields: a static interface needs ip and netmask")
	}
	if family != "ipv4" {
		return nil
	}
	ip, mask := v4(i.IP), v4(i.Netmask)
	if ^mask&(^mask+1) != 0 {
		return Faultf(FaultInvalidArg, "interface_fields.netmask: %s is not a netmask", i.Netmask)
	}
	network, broadcast := ip&mask, ip&mask|^mask
	switch {
	case i.Network != "" && v4(i.Network) != network:
		return Faultf(FaultInvalidArg, "interface_fields.network: %s, but ip %s with netmask %s is in %s", i.Network, i.IP, i.Netmask, fromV4(network))
	case i.Broadcast != "" && v4(i.Broadcast) != broadcast:
		return Faultf(FaultInvalidArg, "interface_fields.broadcast: %s, but the network's is %s", i.Broadcast, fromV4(broadcast))
	case i.Gateway != "" && v4(i.Gateway)&mask != network:
		return Faultf(FaultInvalidArg, "interface_fields.gateway: %s is outside the network %s", i.Gateway, fromV4(network))
	}
	return nil
}

func v4(a string) uint32 { return binary.BigEndian.Uint32(net.ParseIP(a).To4()) }

func fromV4(x uint32) string {
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, x)
	return b.String()
}

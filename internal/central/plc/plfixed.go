package plc

import (
	"context"
	"net/url"
)

// PLCAPI methods whose records Orbis does not keep: lookup tables that
// are fixed in Orbis (its roles, key, node and network types, boot states
// and instantiations are the code's), peers, boot media and PCU reboots.
// Each answers with PLCAPI's roles: the lists are empty, and a change is
// refused with fault
// 102 saying why, so that a tool learns what Orbis does rather than that a
// method is missing. docs/plcapi.md lists them.

// fixedMethod is one of them: answer is what it returns (nil: it refuses
// with why).
type fixedMethod struct {
	name     string
	roles    []string
	min, max int
	sig      []string
	answer   any
	why      string
}

const (
	whyLookup = "Orbis's lookup tables are fixed: GetRoles, GetKeyTypes, GetNodeTypes, GetBootStates, GetNetworkMethods, GetNetworkTypes and GetSliceInstantiations list what it takes"
	whyPeer   = "Orbis keeps no peers: it federates through SFA"
	whyBoot   = "Orbis nodes have no boot CD: GenerateNodeConfFile gives what `orbis node` takes to join"
	whyReboot = "Orbis cannot reboot a node: an Orbis node has no PCU link and no boot manager"
	whyNotify = "Orbis nodes have no boot manager to report to their owners: central mails only what PLCAPI callers ask (NotifyPersons, NotifySupport) and the portal's notices"
	whyTicket = "Orbis has no slice tickets: nodes get their slivers from central (GetSlivers)"
	whyEvents = "Orbis's change log is not served through PLCAPI"
	whyVerify = "Orbis verifies persons through its portal's registration, which an admin or PI enables"
	whyKeys   = "Orbis's slivers have no keys of their own (no sliverauth): the keys a sliver takes are its persons' (GetSliceKeys, GetSlivers)"
)

func fixedMethods() []fixedMethod {
	return []fixedMethod{
		{"AddKeyType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteKeyType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"AddNetworkMethod", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteNetworkMethod", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"AddNetworkType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteNetworkType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"AddNodeType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteNodeType", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"AddRole", rolesAdmin, 2, 2, []string{"int", "int", "string"}, nil, whyLookup},
		{"DeleteRole", rolesAdmin, 1, 1, []string{"int", "int"}, nil, whyLookup},
		{"AddSliceInstantiation", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteSliceInstantiation", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"AddBootState", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"DeleteBootState", rolesAdmin, 1, 1, []string{"int", "string"}, nil, whyLookup},
		{"RebootNodeWithPCU", rolesNodes, 1, 2, []string{"string", "int", "boolean"}, nil, whyReboot},
		{"RebootNode", rolesNodes, 1, 1, []string{"int", "int"}, nil, whyReboot},
		{"BootNotifyOwners", []string{"node"}, 1, 4, []string{"int", "string", "boolean", "boolean", "boolean"}, nil, whyNotify},
		{"VerifyPerson", rolesAdmin, 1, 3, []string{"int", "int", "string", "int"}, nil, whyVerify},
		{"AddPeer", rolesAdmin, 1, 1, []string{"int", "struct"}, nil, whyPeer},
		{"UpdatePeer", rolesAdmin, 2, 2, []string{"int", "int", "struct"}, nil, whyPeer},
		{"DeletePeer", rolesAdmin, 1, 1, []string{"int", "int"}, nil, whyPeer},
		{"RefreshPeer", rolesAdmin, 1, 1, []string{"int", "int"}, nil, whyPeer},
		{"DeleteAllPeerEntries", rolesAdmin, 1, 1, []string{"int", "int"}, nil, whyPeer},
		{"BindObjectToPeer", rolesAdmin, 4, 4, []string{"int", "string", "int", "string", "int"}, nil, whyPeer},
		{"UnBindObjectFromPeer", rolesAdmin, 3, 3, []string{"int", "string", "int", "string"}, nil, whyPeer},
		{"GetPeerData", rolesAdmin, 0, 2, []string{"struct", "struct", "struct"}, nil, whyPeer},
		{"GetBootMedium", rolesNodes, 2, 4, []string{"string", "int", "string", "string", "array"}, nil, whyBoot},
		{"GetSliceTicket", rolesSlice, 1, 1, []string{"string", "int"}, nil, whyTicket},
		{"RetrieveSliceSliverKeys", rolesPublic, 1, 2, []string{"struct", "int", "struct"}, nil, whyKeys},
		{"GetEventObjects", rolesAdmin, 0, 2, []string{"array", "struct", "array"}, nil, whyEvents},
	}
}

func (s *Service) registerFixed() {
	for _, m := range fixedMethods() {
		help := "PLCAPI's " + m.name + ": " + m.why + "; Orbis refuses it with fault 102."
		if m.answer != nil {
			help = "PLCAPI's " + m.name + ": Orbis keeps none, so the answer is always empty."
		}
		s.add(method{name: m.name, roles: m.roles, min: m.min, max: m.max, sig: m.sig, help: help, call: m.call})
	}
	s.add(method{name: "GetPeerName", roles: rolesNode, sig: []string{"string"},
		help: "Returns this PLC's name as a peer would know it: the host of central's URL.",
		call: func(context.Context, *Caller, []any) (any, error) {
			if u, err := url.Parse(s.centralURL); err == nil && u.Hostname() != "" {
				return u.Hostname(), nil
			}
			return "Orbis", nil
		}})
}

func (m fixedMethod) call(context.Context, *Caller, []any) (any, error) {
	if m.answer != nil {
		return m.answer, nil
	}
	return nil, Faultf(FaultInvalidArg, "%s: %s", m.name, m.why)
}

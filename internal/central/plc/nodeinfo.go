package plc

import "context"

// registerNodeInfo adds PLCAPI's lists of node types, boot states and
// slice instantiations, and GetPeers.
func (s *Service) registerNodeInfo() {
	s.add(method{name: "GetNodeTypes", roles: rolesAll, sig: []string{"array"},
		help: "Returns the node types a node may have: regular, or reservable (its slivers run only while their slice holds a lease there).",
		call: constList(nodeTypes)})
	s.add(method{name: "GetBootStates", roles: rolesAll, sig: []string{"array"},
		help: "Returns the boot states a node's record may hold (boot_state). A node is set to boot when it registers; Orbis nodes do not act on the others.",
		call: constList(bootStates)})
	s.add(method{name: "GetSliceInstantiations", roles: rolesAll, sig: []string{"array"},
		help: "Returns the instantiations a slice may have: plc-instantiated (its slivers are made on its nodes), not-instantiated, delegated (a broker's), nm-controller (a label that grants nothing).",
		call: constList(instantiations)})
	s.add(method{name: "GetPeers", roles: []string{"admin", "pi", "user", "node"}, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the peers (other PLCs whose records this one mirrors) that match the filter: none, for Orbis federates through SFA and keeps no foreign records, so every record's peer_id is None.",
		call: func(context.Context, *Caller, []any) (any, error) { return []any{}, nil }})
}

package portmgr

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Offsets of the fields the program reads in struct bpf_sock_addr
// (include/uapi/linux/bpf.h), the context of cgroup/bind4 and bind6.
const (
	ctxUserPort = 24 // __u32 user_port: the port, network byte order
	ctxProtocol = 36 // __u32 protocol: IPPROTO_TCP, IPPROTO_UDP...
)

// Offsets in a map value (see value).
const (
	valCgroupID = 0 // __u64 owner's cgroup v2 id
	valLevel    = 8 // __u32 owner's depth below the cgroup v2 root
)

// Return codes of a cgroup/bind program. retAllowNoCap also lets the
// caller bind a port below 1024 without CAP_NET_BIND_SERVICE (Linux 5.12,
// BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE in the kernel's bit 1).
const (
	retDeny       = 0 // bind fails with EPERM
	retAllow      = 1
	retAllowNoCap = 3
)

// mapName is the name of the reservations map in the collection, in the
// kernel and in the pin directory.
const mapName = "orbis_ports"

// claimsMapName is the name of the claims map (see Manager.Claim): the
// ports held for slices' safe raw and sniffer sockets, same key, value a
// claimValue.
const claimsMapName = "orbis_claims"

// Names of the programs, in the collection, the kernel and pin names of
// their links.
const (
	progBind4 = "orbis_bind4"
	progBind6 = "orbis_bind6"
)

// maxEntries bounds the number of reserved (protocol, port) pairs.
const maxEntries = 8192

// mapSpec is the reservations map: key (protocol<<16 | port) as a host
// __u32, value the owner (see value).
func mapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       mapName,
		Type:       ebpf.Hash,
		KeySize:    4,
		ValueSize:  valueSize,
		MaxEntries: maxEntries,
		Flags:      1, // BPF_F_NO_PREALLOC: a few entries in the common case
	}
}

// claimsMapSpec is the claims map: the reservations map's key, value a
// claimValue (the owner first, as in a reservation).
func claimsMapSpec() *ebpf.MapSpec {
	s := mapSpec()
	s.Name, s.ValueSize = claimsMapName, claimValueSize
	return s
}

// instructions is the bind program, the same for bind4 and bind6: it
// looks the (protocol, port) being bound up in the reservations map, and
// if it is not there in the claims map; a port in neither binds as
// usual; a reserved or claimed one binds only for a task whose cgroup is
// the owner's cgroup or below it, and is refused with EPERM to everyone
// else. With noCap, the owner may also bind its reserved (not merely
// claimed) ports below 1024 without CAP_NET_BIND_SERVICE.
//
// Binding port 0 (the kernel picks an ephemeral port) is always allowed:
// reserved ports are kept outside ip_local_port_range, and claimed ones
// inside it are listed in ip_local_reserved_ports while claimed.
func instructions(noCap bool) asm.Instructions {
	ownerRet := int32(retAllow)
	if noCap {
		ownerRet = retAllowNoCap
	}
	lookup := func(m string) asm.Instructions {
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference(m),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
		}
	}
	insns := asm.Instructions{
		// r2 = user_port in host order; r3 = protocol.
		asm.LoadMem(asm.R2, asm.R1, ctxUserPort, asm.Word),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.JEq.Imm(asm.R2, 0, "allow"),
		asm.LoadMem(asm.R3, asm.R1, ctxProtocol, asm.Word),
		asm.LSh.Imm(asm.R3, 16),
		asm.Or.Reg(asm.R2, asm.R3),
		// owner = ports[key], key on the stack; r7 = the owner's verdict.
		asm.StoreMem(asm.RFP, -4, asm.R2, asm.Word),
	}
	insns = append(insns, lookup(mapName)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R7, ownerRet),
		asm.JNE.Imm(asm.R0, 0, "check"),
		// Not reserved: owner = claims[key].
	)
	insns = append(insns, lookup(claimsMapName)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R7, retAllow),
		asm.JEq.Imm(asm.R0, 0, "allow"),
		// Is the owner's cgroup the caller's, or an ancestor of it?
		asm.Mov.Reg(asm.R6, asm.R0).WithSymbol("check"),
		asm.LoadMem(asm.R1, asm.R6, valCgroupID, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, "node"),
		asm.LoadMem(asm.R1, asm.R6, valLevel, asm.Word),
		asm.FnGetCurrentAncestorCgroupId.Call(),
		asm.LoadMem(asm.R1, asm.R6, valCgroupID, asm.DWord),
		asm.JEq.Reg(asm.R0, asm.R1, "owner"),
		asm.Mov.Imm(asm.R0, retDeny).WithSymbol("deny"),
		asm.Return(),
		asm.Mov.Reg(asm.R0, asm.R7).WithSymbol("owner"),
		asm.Return(),
	)
	// The node's port: the owner is every task in no sliver.
	node := findSliver("deny", "allow")
	node[0] = node[0].WithSymbol("node")
	insns = append(insns, node...)
	return append(insns,
		asm.Mov.Imm(asm.R0, retAllow).WithSymbol("allow"),
		asm.Return(),
	)
}

// collectionSpec is the maps and the programs: the two bind programs,
// which differ only in their attach type (which the verifier checks the
// context accesses and return values against), and the socket quota's
// two, with maxSockets sockets a sliver.
func collectionSpec(noCap bool, maxSockets int32) *ebpf.CollectionSpec {
	prog := func(name string, typ ebpf.ProgramType, at ebpf.AttachType, insns asm.Instructions) *ebpf.ProgramSpec {
		return &ebpf.ProgramSpec{Name: name, Type: typ, AttachType: at, Instructions: insns, License: "GPL"}
	}
	return &ebpf.CollectionSpec{
		Maps: mapSpecs(),
		Programs: map[string]*ebpf.ProgramSpec{
			progBind4:      prog(progBind4, ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Bind, instructions(noCap)),
			progBind6:      prog(progBind6, ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Bind, instructions(noCap)),
			progSockCreate: prog(progSockCreate, ebpf.CGroupSock, ebpf.AttachCGroupInetSockCreate, sockCreateInstructions(maxSockets)),
			progSockFree:   prog(progSockFree, ebpf.CGroupSock, ebpf.AttachCgroupInetSockRelease, sockFreeInstructions()),
		},
	}
}

// mapSpecs are every map of the collection by name; each is pinned.
func mapSpecs() map[string]*ebpf.MapSpec {
	return map[string]*ebpf.MapSpec{mapName: mapSpec(), claimsMapName: claimsMapSpec(),
		sliversMapName: sliversMapSpec(), socksMapName: socksMapSpec()}
}

package portmgr

import (
	"bytes"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// A slice's socket quota: every TCP, UDP or other IPv4/IPv6 socket a
// sliver's task creates is counted against the sliver, and the socket
// beyond the quota is refused (socket(2) fails with EPERM). Each socket
// holds at most one local port, so the quota bounds the ports a slice
// holds, explicitly bound or handed out by the kernel alike (a bind to
// port 0, a connect or a send on an unbound socket), and so a slice
// cannot take the ephemeral range (ip_local_port_range) from the others
// and from the node.
//
// The count lives in the slivers map (cgroup id of the sliver -> its
// count and name); cgroup/sock_create adds one for a task whose cgroup is
// a sliver's or below it, and records the sliver's cgroup id in the
// socket's own storage (an sk_storage map); cgroup/sock_release takes
// one off the sliver the socket names, whoever closes it. A socket the
// kernel makes for an accepted TCP connection is not created by a task
// and is not counted: it shares its listener's port.

// Names of the socket quota's maps and programs (at most 15 bytes: the
// kernel's object names).
const (
	sliversMapName = "orbis_slivers"
	socksMapName   = "orbis_socks"
	progSockCreate = "orbis_sockmk"
	progSockFree   = "orbis_sockrm"
)

// DefaultMaxSockets is the default quota of sockets one sliver may hold
// at once: far more than a busy server's outgoing connections and
// listeners (accepted connections are not counted), and a seventh of the
// default ephemeral range (32768-60999), so that one slice leaves most of
// it to the others and the node.
const DefaultMaxSockets = 4096

// maxLevel is the deepest cgroup level below the cgroup v2 root where a
// sliver's cgroup may be (Reserve refuses a deeper one): the programs
// look a task's ancestors up from level 1 to maxLevel.
const maxLevel = 16

// maxSlivers bounds the slivers map.
const maxSlivers = 4096

// nodeOwner is the owner of the node's own ports (Manager.ReserveNode):
// every task that is in no sliver.
const nodeOwner = "node"

// sliverValue is a slivers map value: the sliver's count of sockets,
// which the programs change atomically, and its name.
type sliverValue struct {
	Sockets uint64
	Name    [nameSize]byte
	Pad     uint32
}

func (v sliverValue) owner() string {
	n, _, _ := bytes.Cut(v.Name[:], []byte{0})
	return string(n)
}

// stack slot of the cgroup id a lookup in the slivers map uses.
const fpSliver = -16

func sliversMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       sliversMapName,
		Type:       ebpf.Hash,
		KeySize:    8,
		ValueSize:  8 + nameSize + 4,
		MaxEntries: maxSlivers,
		Flags:      1, // BPF_F_NO_PREALLOC
	}
}

// socksMapSpec is the sockets' storage: the cgroup id of the sliver a
// socket is counted against. Without BPF_F_CLONE, so an accepted
// connection does not inherit its listener's.
func socksMapSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:      socksMapName,
		Type:      ebpf.SkStorage,
		KeySize:   4,
		ValueSize: 8,
		Flags:     1, // BPF_F_NO_PREALLOC, which sk_storage requires
		// The kernel wants sk_storage's key and value types in BTF.
		Key:   &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Value: &btf.Int{Name: "__u64", Size: 8},
	}
}

// findSliver finds the sliver the current task is in: it jumps to found
// with r0 pointing to the sliver's slivers map value and its cgroup id
// at fp+fpSliver, or to none if the task is in no sliver. It clobbers
// r0 to r5.
func findSliver(found, none string) asm.Instructions {
	var insns asm.Instructions
	for l := int32(1); l <= maxLevel; l++ {
		insns = append(insns,
			asm.Mov.Imm(asm.R1, l),
			asm.FnGetCurrentAncestorCgroupId.Call(),
			asm.JEq.Imm(asm.R0, 0, none),
			asm.StoreMem(asm.RFP, fpSliver, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, 0).WithReference(sliversMapName),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, fpSliver),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, found),
		)
	}
	return append(insns, asm.Ja.Label(none))
}

// fetchAdd is `src = atomic_fetch_add((u64 *)dst, src)`. The kernel
// reads the atomic operation from the immediate (BPF_ADD | BPF_FETCH),
// which asm.FetchAdd.Mem leaves 0, a plain add that fetches nothing.
func fetchAdd(dst, src asm.Register) asm.Instruction {
	ins := asm.FetchAdd.Mem(dst, src, asm.DWord, 0)
	ins.Constant = 0x00 | 0x01 // BPF_ADD | BPF_FETCH
	return ins
}

// sockCreateInstructions is the cgroup/sock_create program: a socket of
// a sliver's task is allowed while the sliver holds fewer than limit.
func sockCreateInstructions(limit int32) asm.Instructions {
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	insns = append(insns, findSliver("count", "allow")...)
	return append(insns,
		// r1 = the count before this socket, counting it.
		asm.Mov.Reg(asm.R7, asm.R0).WithSymbol("count"),
		asm.Mov.Imm(asm.R1, 1),
		fetchAdd(asm.R7, asm.R1),
		asm.JGE.Imm(asm.R1, limit, "over"),
		// Name the sliver in the socket's storage, for the release.
		asm.LoadMapPtr(asm.R1, 0).WithReference(socksMapName),
		asm.Mov.Reg(asm.R2, asm.R6),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 1), // BPF_SK_STORAGE_GET_F_CREATE
		asm.FnSkStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "over"),
		asm.LoadMem(asm.R1, asm.RFP, fpSliver, asm.DWord),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 1),
		asm.Return(),
		asm.Mov.Imm(asm.R1, -1).WithSymbol("over"),
		asm.AddAtomic.Mem(asm.R7, asm.R1, asm.DWord, 0),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	)
}

// sockFreeInstructions is the cgroup/sock_release program: a socket
// counted against a sliver is taken off its count.
func sockFreeInstructions() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.LoadMapPtr(asm.R1, 0).WithReference(socksMapName),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnSkStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "done"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.StoreMem(asm.RFP, fpSliver, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(sliversMapName),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpSliver),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "done"),
		asm.Mov.Imm(asm.R1, -1),
		asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, 0),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("done"),
		asm.Return(),
	}
}

func newSliverValue(owner string) (sliverValue, error) {
	n, err := nameOf(owner)
	return sliverValue{Name: n}, err
}

package rawfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The receive filter of a sliver's packet sockets, an eBPF socket filter
// (SO_ATTACH_BPF). A packet socket's tap runs before netfilter on
// receive, so the mark the raw sockets' filter reads is not set yet: this
// filter reads the packet itself, at its network header whatever the
// socket's type and device (SKF_NET_OFF), and admits only
//   - frames the node sends (PACKET_OUTGOING) or receives for itself
//     (PACKET_HOST): never another host's, even in promiscuous mode;
//     and, when it admits one, only if the packet's local side (source
//     when sent, destination when received) is one of the node's
//     addresses: the local map, kept equal to the table's sets local4
//     and local6 (addrs_linux.go), so a flow the node forwards between
//     two other hosts is never admitted;
//   - IPv4 (not a fragment after the first) and IPv6 (no extension
//     header), TCP, UDP, ICMP and ICMPv6;
//   - a TCP or UDP segment whose local port (source when sent,
//     destination when received) is one the slice holds alone: the
//     ports map, the raw sockets' table's ports, kept in step with it;
//   - a packet the slice's raw sockets sent (their mark, set before
//     netfilter confined them);
//   - an ICMP or ICMPv6 echo request or reply of an echo flow (peer
//     address, identifier) the slice's raw sockets started less than
//     pingTimeout ago (as the table's echo flows expire): the echo map,
//     which the agent's own packet socket (openLearner) fills from every
//     echo request the node sends, the mark telling which slice's raw
//     socket sent one; any other echo request the node sends takes the
//     flow from every slice;
//   - an ICMP or ICMPv6 error received about a packet that one of the
//     above admits as sent: the quoted packet is read as an outgoing one.
//
// Anything the program cannot read (a short packet) ends it with 0: the
// frame is dropped.

// Offsets in struct __sk_buff (include/uapi/linux/bpf.h).
const (
	skbPktType  = 4
	skbMark     = 8
	skbProtocol = 16
)

// skfNetOff is SKF_NET_OFF: a load at skfNetOff+k reads the packet's
// network header at k.
const skfNetOff = -0x100000

// Packet types (linux/if_packet.h).
const (
	packetHost     = 0
	packetOutgoing = 4
)

// Names of the filter's maps, in the kernel.
const (
	pktPortsName = "orbis_pkt_ports"
	pktEchoName  = "orbis_pkt_echo"
	pktLocalName = "orbis_pkt_local"
)

// Sizes of the filter's maps: every (protocol, port) pair, and the echo
// flows the node remembers (least recently used first out).
const (
	pktPortsMax = 2 * 65536
	pktEchoMax  = 8192
	pktLocalMax = 65536
)

// echoKeySize is the echo map's key: the peer's address (16 bytes, an
// IPv4 one in the first 4), the identifier and the IP version, as four
// host-order words of the address, one of the identifier and one of the
// version.
const echoKeySize = 24

// pktFilter holds the maps of the node's packet socket filters and one
// program per slice.
type pktFilter struct {
	ports *ebpf.Map // protocol<<16 | port -> slice index
	echo  *ebpf.Map // echo flow -> slice index (0: the node's)
	local *ebpf.Map // the node's addresses (localKey) -> 1
	progs map[uint32]*ebpf.Program
	// learner is the agent's own packet socket, which fills echo.
	learner int

	// addrs is what local holds; only the address watch uses it.
	addrs map[netip.Addr]bool
}

func newPktFilter() (*pktFilter, error) {
	ports, err := ebpf.NewMap(&ebpf.MapSpec{Name: pktPortsName, Type: ebpf.Hash, KeySize: 4, ValueSize: 4,
		MaxEntries: pktPortsMax, Flags: 1}) // BPF_F_NO_PREALLOC
	if err != nil {
		return nil, fmt.Errorf("packet sockets: ports map: %w", err)
	}
	echo, err := ebpf.NewMap(&ebpf.MapSpec{Name: pktEchoName, Type: ebpf.LRUHash, KeySize: echoKeySize, ValueSize: echoValSize,
		MaxEntries: pktEchoMax})
	if err != nil {
		ports.Close()
		return nil, fmt.Errorf("packet sockets: echo map: %w", err)
	}
	local, err := ebpf.NewMap(&ebpf.MapSpec{Name: pktLocalName, Type: ebpf.Hash, KeySize: 16, ValueSize: 4,
		MaxEntries: pktLocalMax, Flags: 1}) // BPF_F_NO_PREALLOC
	if err != nil {
		ports.Close()
		echo.Close()
		return nil, fmt.Errorf("packet sockets: local map: %w", err)
	}
	f := &pktFilter{ports: ports, echo: echo, local: local, progs: map[uint32]*ebpf.Program{}, learner: -1, addrs: map[netip.Addr]bool{}}
	// Load one now: a kernel that refuses it says so at start-up.
	if _, err := f.prog(0); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// prog is the filter of the slice of index (made once).
func (f *pktFilter) prog(index uint32) (*ebpf.Program, error) {
	if p := f.progs[index]; p != nil {
		return p, nil
	}
	p, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name: "orbis_pkt", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: pktInstructions(index, f.ports.FD(), f.echo.FD(), f.local.FD()),
	}, ebpf.ProgramOptions{})
	if err != nil {
		return nil, fmt.Errorf("packet sockets: load filter: %w", err)
	}
	f.progs[index] = p
	return p, nil
}

// forget closes the program of the slice of index (its sockets keep it).
func (f *pktFilter) forget(index uint32) {
	if p := f.progs[index]; p != nil {
		p.Close()
		delete(f.progs, index)
	}
}

func (f *pktFilter) close() {
	for i := range f.progs {
		f.forget(i)
	}
	if f.learner >= 0 {
		unix.Close(f.learner)
	}
	f.ports.Close()
	f.echo.Close()
	f.local.Close()
}

// setAddrs makes the local map hold the addresses of want.
func (f *pktFilter) setAddrs(want map[netip.Addr]bool) error {
	var errs []error
	for ip := range f.addrs {
		if want[ip] {
			continue
		}
		if err := f.local.Delete(localKey(ip)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
			continue
		}
		delete(f.addrs, ip)
	}
	for ip := range want {
		if f.addrs[ip] {
			continue
		}
		if err := f.local.Put(localKey(ip), uint32(1)); err != nil {
			errs = append(errs, err)
			continue
		}
		f.addrs[ip] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("packet sockets: local map: %w", err)
	}
	return nil
}

// localKey is the local map's key of ip: its 16-byte form (IPv4-mapped
// for IPv4) as four host-order words, as the program's word loads read
// them.
func localKey(ip netip.Addr) [16]byte {
	b := ip.As16()
	var k [16]byte
	for i := 0; i < 16; i += 4 {
		binary.NativeEndian.PutUint32(k[i:], binary.BigEndian.Uint32(b[i:]))
	}
	return k
}

// setPorts changes the ports of the slice of index from have to want.
func (f *pktFilter) setPorts(index uint32, have, want map[Port]bool) error {
	var errs []error
	for p := range have {
		if want[p] {
			continue
		}
		var v uint32
		// Only the slice's own entry: the port may be another's now.
		if err := f.ports.Lookup(portKey(p), &v); err == nil && v == index {
			if err := f.ports.Delete(portKey(p)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, err)
			}
		}
	}
	for p := range want {
		if !have[p] {
			if err := f.ports.Put(portKey(p), index); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("packet sockets: ports map: %w", err)
	}
	return nil
}

func portKey(p Port) uint32 { return uint32(p.Proto)<<16 | uint32(p.Port) }

// Registers of the program, besides R0-R5 (scratch; LdAbs and LdInd
// clobber them) and R6 (the context, as LdAbs needs).
const (
	rL4   = asm.R7 // the L4 header's offset from the network header
	rOut  = asm.R8 // 1: the packet (or the one an error quotes) was sent
	rProt = asm.R9 // the L4 protocol
)

// Stack slots of the echo key (see echoKeySize), from the frame pointer.
const (
	keyAddr = -24
	keyID   = -8
	keyVer  = -4
	// keyLocal is the local map's key (localKey), 16 bytes.
	keyLocal = -48
)

// pktInstructions is the program of the slice of index. LdAbs and LdInd
// clobber R1-R5, so what lasts is in R6-R9 or on the stack.
func pktInstructions(index uint32, portsFD, echoFD, localFD int) asm.Instructions {
	return filterInstructions(index, portsFD, echoFD, localFD, false)
}

// filterInstructions is a slice's filter, or with learner the learner:
// the network layer is read alike.
func filterInstructions(index uint32, portsFD, echoFD, localFD int, learner bool) asm.Instructions {
	rawMark := int32(RawMark(index))
	ld := func(off int32, size asm.Size) asm.Instruction { return asm.LoadAbs(skfNetOff+off, size) }
	ldL4 := func(off int32, size asm.Size) asm.Instruction { return asm.LoadInd(asm.R0, rL4, skfNetOff+off, size) }
	// lookup looks the key at R2 up and accepts when its value is the
	// slice's index.
	lookup := func(fd int) asm.Instructions {
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, fd),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "drop"),
			asm.LoadMem(asm.R0, asm.R0, 0, asm.Word),
			asm.JEq.Imm(asm.R0, int32(index), "accept"),
			asm.Ja.Label("drop"),
		}
	}
	// addr stores the 16-byte address at the network offset off (LdInd
	// from rL4 if ind) in the key.
	addr6 := func(off int32, ind bool) asm.Instructions {
		var out asm.Instructions
		for i := int32(0); i < 4; i++ {
			l := ld(off+4*i, asm.Word)
			if ind {
				l = ldL4(off+4*i, asm.Word)
			}
			out = append(out, l, asm.StoreMem(asm.RFP, keyAddr+int16(4*i), asm.R0, asm.Word))
		}
		return append(out, asm.StoreImm(asm.RFP, keyVer, 6, asm.Word))
	}
	addr4 := asm.Instructions{
		asm.StoreMem(asm.RFP, keyAddr, asm.R0, asm.Word),
		asm.StoreImm(asm.RFP, keyAddr+4, 0, asm.Word),
		asm.StoreImm(asm.RFP, keyAddr+8, 0, asm.Word),
		asm.StoreImm(asm.RFP, keyAddr+12, 0, asm.Word),
		asm.StoreImm(asm.RFP, keyVer, 4, asm.Word),
	}
	hostTo := "proto"
	if learner {
		hostTo = "drop" // it learns from sent frames only
	}
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(rOut, 0),
		asm.LoadMem(asm.R0, asm.R6, skbPktType, asm.Word),
		asm.JEq.Imm(asm.R0, packetHost, hostTo),
		asm.JNE.Imm(asm.R0, packetOutgoing, "drop"),
		asm.Mov.Imm(rOut, 1),

		// Network layer: rL4, rProt and the peer's address in the key.
		asm.LoadMem(asm.R0, asm.R6, skbProtocol, asm.Word).WithSymbol("proto"),
		asm.JEq.Imm(asm.R0, int32(htons16(0x0800)), "ip4"),
		asm.JEq.Imm(asm.R0, int32(htons16(0x86dd)), "ip6"),
		asm.Ja.Label("drop"),

		ld(0, asm.Byte).WithSymbol("ip4"),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.RSh.Imm(asm.R1, 4),
		asm.JNE.Imm(asm.R1, 4, "drop"),
		asm.And.Imm(asm.R0, 0xf),
		asm.LSh.Imm(asm.R0, 2),
		asm.Mov.Reg(rL4, asm.R0),
		ld(6, asm.Half),
		asm.JSet.Imm(asm.R0, 0x1fff, "drop"), // a later fragment: no L4 header
		ld(9, asm.Byte),
		asm.Mov.Reg(rProt, asm.R0),
		ld(12, asm.Word), // source
		asm.JEq.Imm(rOut, 0, "ip4peer"),
		ld(16, asm.Word), // destination
	}
	ins = append(ins, addr4...)
	ins[len(ins)-len(addr4)] = ins[len(ins)-len(addr4)].WithSymbol("ip4peer")
	ins = append(ins,
		asm.Ja.Label("l4"),

		ld(0, asm.Byte).WithSymbol("ip6"),
		asm.RSh.Imm(asm.R0, 4),
		asm.JNE.Imm(asm.R0, 6, "drop"),
		asm.Mov.Imm(rL4, 40),
		ld(6, asm.Byte),
		asm.Mov.Reg(rProt, asm.R0),
		asm.JNE.Imm(rOut, 0, "ip6dst"),
	)
	ins = append(ins, addr6(8, false)...) // source
	ins = append(ins, asm.Ja.Label("l4"))
	dst := addr6(24, false)
	dst[0] = dst[0].WithSymbol("ip6dst")
	ins = append(ins, dst...)
	if learner {
		return append(ins, learnInstructions(echoFD, ldL4)...)
	}
	ins = append(ins,
		// Transport layer.
		asm.JEq.Imm(rOut, 0, "tcpudp").WithSymbol("l4"),
		// Sent by the slice's raw sockets: netfilter confined it.
		asm.LoadMem(asm.R0, asm.R6, skbMark, asm.Word),
		asm.JEq.Imm(asm.R0, rawMark, "accept"),

		// TCP and UDP: by the local port.
		asm.JEq.Imm(rProt, 6, "ports").WithSymbol("tcpudp"),
		asm.JEq.Imm(rProt, 17, "ports"),
		asm.JEq.Imm(rProt, 1, "icmp"),
		asm.JEq.Imm(rProt, 58, "icmp6"),
		asm.Ja.Label("drop"),

		ldL4(2, asm.Half).WithSymbol("ports"), // destination
		asm.JEq.Imm(rOut, 0, "portkey"),
		ldL4(0, asm.Half), // source
		asm.Mov.Reg(asm.R1, rProt).WithSymbol("portkey"),
		asm.LSh.Imm(asm.R1, 16),
		asm.Or.Reg(asm.R1, asm.R0),
		asm.StoreMem(asm.RFP, -32, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -32),
	)
	ins = append(ins, lookup(portsFD)...)
	ins = append(ins,
		// ICMP: echo by flow; errors by what they quote.
		ldL4(0, asm.Byte).WithSymbol("icmp"),
		asm.JEq.Imm(asm.R0, 8, "echoreq"),
		asm.JEq.Imm(asm.R0, 0, "echorep"),
		asm.JEq.Imm(asm.R0, 3, "err4"),
		asm.JEq.Imm(asm.R0, 11, "err4"),
		asm.JEq.Imm(asm.R0, 12, "err4"),
		asm.Ja.Label("drop"),
		ldL4(0, asm.Byte).WithSymbol("icmp6"),
		asm.JEq.Imm(asm.R0, 128, "echoreq"),
		asm.JEq.Imm(asm.R0, 129, "echorep"),
		asm.JGE.Imm(asm.R0, 5, "drop"),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.Ja.Label("err6"),

		// A request is the flow's when sent, a reply when received.
		asm.JEq.Imm(rOut, 0, "drop").WithSymbol("echoreq"),
		asm.Ja.Label("echo"),
		asm.JNE.Imm(rOut, 0, "drop").WithSymbol("echorep"),
		ldL4(4, asm.Half).WithSymbol("echo"),
		asm.StoreMem(asm.RFP, keyID, asm.R0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyAddr),
	)
	ins = append(ins,
		asm.LoadMapPtr(asm.R1, echoFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JNE.Imm(asm.R1, int32(index), "drop"),
		// Learned more than pingTimeout ago: expired, as in the table.
		asm.LoadMem(rL4, asm.R0, 8, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, rL4),
		asm.LoadImm(asm.R1, pingTimeout.Nanoseconds(), asm.DWord),
		asm.JGT.Reg(asm.R0, asm.R1, "drop"),
		asm.Ja.Label("accept"),
	)
	ins = append(ins,
		// An error the node received, quoting a packet it sent: read
		// the quote as that packet, once (rOut 2: no error in it).
		asm.JNE.Imm(rOut, 0, "drop").WithSymbol("err4"),
		asm.Add.Imm(rL4, 8), // the quote's network header
		ldL4(6, asm.Half),
		asm.JSet.Imm(asm.R0, 0x1fff, "drop"),
		ldL4(9, asm.Byte),
		asm.Mov.Reg(rProt, asm.R0),
		ldL4(16, asm.Word), // its destination
	)
	ins = append(ins, addr4...)
	ins = append(ins,
		ldL4(0, asm.Byte),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.RSh.Imm(asm.R1, 4),
		asm.JNE.Imm(asm.R1, 4, "drop"),
		asm.And.Imm(asm.R0, 0xf),
		asm.LSh.Imm(asm.R0, 2),
		asm.Add.Reg(rL4, asm.R0),
		asm.Mov.Imm(rOut, 2),
		asm.Ja.Label("quoted"),

		asm.JNE.Imm(rOut, 0, "drop").WithSymbol("err6"),
		asm.Add.Imm(rL4, 8),
		ldL4(0, asm.Byte),
		asm.RSh.Imm(asm.R0, 4),
		asm.JNE.Imm(asm.R0, 6, "drop"),
		ldL4(6, asm.Byte),
		asm.Mov.Reg(rProt, asm.R0),
	)
	ins = append(ins, addr6(24, true)...)
	ins = append(ins,
		asm.Add.Imm(rL4, 40),
		asm.Mov.Imm(rOut, 2),

		// The quoted packet: TCP, UDP or an echo request, as sent.
		asm.JEq.Imm(rProt, 6, "ports").WithSymbol("quoted"),
		asm.JEq.Imm(rProt, 17, "ports"),
		asm.JEq.Imm(rProt, 1, "quoted4"),
		asm.JNE.Imm(rProt, 58, "drop"),
		ldL4(0, asm.Byte),
		asm.JEq.Imm(asm.R0, 128, "echo"),
		asm.Ja.Label("drop"),
		ldL4(0, asm.Byte).WithSymbol("quoted4"),
		asm.JEq.Imm(asm.R0, 8, "echo"),
		asm.Ja.Label("drop"),

		// Admitted, if its local side is the node's: read from the
		// network header again (rL4 and rProt may be an error's quote;
		// rOut 2 is a received error).
		ld(0, asm.Byte).WithSymbol("accept"),
		asm.RSh.Imm(asm.R0, 4),
		asm.JEq.Imm(asm.R0, 6, "local6"),
		asm.StoreImm(asm.RFP, keyLocal, 0, asm.Word),
		asm.StoreImm(asm.RFP, keyLocal+4, 0, asm.Word),
		asm.StoreImm(asm.RFP, keyLocal+8, 0xffff, asm.Word),
		ld(16, asm.Word), // destination
		asm.JNE.Imm(rOut, 1, "local4"),
		ld(12, asm.Word), // source
		asm.StoreMem(asm.RFP, keyLocal+12, asm.R0, asm.Word).WithSymbol("local4"),
		asm.Ja.Label("islocal"),
	)
	ins = append(ins, localAddr6(24)...) // destination
	ins[len(ins)-8] = ins[len(ins)-8].WithSymbol("local6")
	ins = append(ins, asm.JNE.Imm(rOut, 1, "islocal"))
	ins = append(ins, localAddr6(8)...) // source
	ins = append(ins,
		asm.LoadMapPtr(asm.R1, localFD).WithSymbol("islocal"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyLocal),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.Mov.Imm(asm.R0, -1), // whole
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("drop"),
		asm.Return(),
	)
	return ins
}

// localAddr6 stores the 16-byte address at the network offset off in the
// local map's key (8 instructions).
func localAddr6(off int32) asm.Instructions {
	var out asm.Instructions
	for i := int32(0); i < 4; i++ {
		out = append(out, asm.LoadAbs(skfNetOff+off+4*i, asm.Word), asm.StoreMem(asm.RFP, keyLocal+int16(4*i), asm.R0, asm.Word))
	}
	return out
}

// htons16 is v in network order, as a host-order load of it reads.
func htons16(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

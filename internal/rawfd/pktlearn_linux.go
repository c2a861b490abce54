package rawfd

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The echo learner: the packet sockets' filters admit the echo flows a
// slice's raw sockets started; the agent's own packet socket learns them
// from every echo request the node sends, so no slice can keep its
// filters from seeing the node's request that takes a flow back.

// openLearner opens the agent's own packet socket, on every protocol and
// device of w's namespace, whose filter fills the echo map from every
// echo request the node sends, whoever sends it, and takes no frame: no
// slice can close it or change its filter, so the node's (and other
// slices') echo requests always take their flow back.
func (f *pktFilter) openLearner(w *worker) (err error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "orbis_pkt_learn", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: learnerInstructions(f.echo.FD())})
	if err != nil {
		return fmt.Errorf("packet sockets: load echo learner: %w", err)
	}
	defer prog.Close() // the socket keeps it
	fd := -1
	// No protocol until the filter is on.
	w.do(func() { fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) })
	if err != nil {
		return fmt.Errorf("packet sockets: echo learner: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD()); err != nil {
		unix.Close(fd)
		return fmt.Errorf("packet sockets: echo learner: SO_ATTACH_BPF: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(unix.ETH_P_ALL)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("packet sockets: echo learner: bind: %w", err)
	}
	f.learner = fd
	return nil
}

// learnerInstructions is the program of the agent's own packet socket,
// which learns echo flows from every echo request the node sends and
// takes no frame.
func learnerInstructions(echoFD int) asm.Instructions {
	return filterInstructions(0, -1, echoFD, -1, true)
}

// echoVal is the stack slot of an echo map value: the slice's index
// (0: the node's) and, 8 bytes in, when it was learned (CLOCK_MONOTONIC
// nanoseconds, bpf_ktime_get_ns).
const (
	echoVal     = -40
	echoValSize = 16
)

// learnInstructions learn the echo flow of a sent echo request (its peer
// and identifier; the peer is in the key already): who sent it, the
// slice whose raw socket's mark it carries or the node, and when. The
// frame is never taken.
func learnInstructions(echoFD int, ldL4 func(int32, asm.Size) asm.Instruction) asm.Instructions {
	return asm.Instructions{
		asm.JEq.Imm(rProt, 1, "learn4").WithSymbol("l4"),
		asm.JEq.Imm(rProt, 58, "learn6"),
		asm.Ja.Label("drop"),
		ldL4(0, asm.Byte).WithSymbol("learn4"),
		asm.JEq.Imm(asm.R0, 8, "learn"),
		asm.Ja.Label("drop"),
		ldL4(0, asm.Byte).WithSymbol("learn6"),
		asm.JNE.Imm(asm.R0, 128, "drop"),
		ldL4(4, asm.Half).WithSymbol("learn"),
		asm.StoreMem(asm.RFP, keyID, asm.R0, asm.Word),
		asm.LoadMem(asm.R0, asm.R6, skbMark, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.And.Imm(asm.R1, -0x10000), // 0xffff0000
		asm.Mov.Imm(asm.R3, 0),        // the node's, or a ping socket's
		asm.JNE.Imm(asm.R1, rawMarkBase, "store"),
		asm.Mov.Reg(asm.R3, asm.R0),
		asm.And.Imm(asm.R3, 0xffff),
		asm.StoreMem(asm.RFP, echoVal, asm.R3, asm.Word).WithSymbol("store"),
		asm.StoreImm(asm.RFP, echoVal+4, 0, asm.Word),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, echoVal+8, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, echoFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyAddr),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, echoVal),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("drop"),
		asm.Return(),
	}
}

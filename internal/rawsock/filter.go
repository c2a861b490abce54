package rawsock

import (
	"fmt"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// Insn is one classic BPF instruction, as the kernel's struct sock_filter.
type Insn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Classic BPF opcodes (linux/filter.h) used here.
const (
	bpfLD, bpfLDX, bpfALU, bpfJMP, bpfRET, bpfMISC = 0x00, 0x01, 0x04, 0x05, 0x06, 0x07
	bpfW, bpfH, bpfB                               = 0x00, 0x08, 0x10
	bpfABS, bpfIND, bpfMSH                         = 0x20, 0x40, 0xa0
	bpfJA, bpfJEQ, bpfJSET                         = 0x00, 0x10, 0x40
	bpfADD, bpfAND, bpfLSH, bpfRSH                 = 0x00, 0x50, 0x60, 0x70
	bpfTAX                                         = 0x00
	bpfX                                           = 0x08

	// skfPktType is the ancillary load of skb->pkt_type (SKF_AD_OFF +
	// SKF_AD_PKTTYPE); packetHost is PACKET_HOST, a packet to this host.
	skfPktType = 0xfffff000 + 4
	packetHost = 0
)

// Filter returns the classic BPF program for an AF_PACKET SOCK_DGRAM
// capture (offsets from the IP header) that keeps the incoming packets of
// binding b: a superset of Wants, which the service applies again.
func Filter(b Binding) ([]Insn, error) {
	var p prog
	p.ld(bpfLD|bpfW|bpfABS, skfPktType)
	p.jeq(packetHost, "", "drop")
	p.ld(bpfLD|bpfB|bpfABS, 0)
	p.op(bpfALU|bpfRSH, 4)
	p.jeq(4, "v4", "")
	p.jeq(6, "v6", "drop")
	p.label("v4")
	p.ipv4(b)
	p.label("v6")
	p.ipv6(b)
	p.label("accept")
	p.op(bpfRET, 0x40000)
	p.label("drop")
	p.op(bpfRET, 0)
	return p.assemble()
}

// ipv4 matches IPv4 packets that are not fragments.
func (p *prog) ipv4(b Binding) {
	p.ld(bpfLD|bpfH|bpfABS, 6)
	p.jset(0x3fff, "drop", "")
	p.ld(bpfLD|bpfB|bpfABS, 9)
	if b.Proto != wire.ProtoICMP {
		p.jeq(uint32(b.Proto), "", "v4icmp")
		p.ld(bpfLDX|bpfB|bpfMSH, 0)
		p.ld(bpfLD|bpfH|bpfIND, 2) // destination port
		p.jeq(uint32(b.Port), "accept", "drop")
		p.label("v4icmp")
	}
	p.jeq(uint32(wire.ProtoICMP), "", "drop")
	p.ld(bpfLDX|bpfB|bpfMSH, 0)
	p.ld(bpfLD|bpfB|bpfIND, 0) // ICMP type
	if b.Proto == wire.ProtoICMP {
		p.jeq(0, "", "v4err") // echo reply
		p.ld(bpfLD|bpfH|bpfIND, 4)
		p.jeq(uint32(b.Port), "accept", "drop")
		p.label("v4err")
	}
	p.jeq(3, "v4quote", "")
	p.jeq(11, "v4quote", "")
	p.jeq(12, "v4quote", "drop")
	p.label("v4quote")
	p.ld(bpfLD|bpfB|bpfIND, 8+9) // quoted protocol
	p.jeq(uint32(b.Proto), "", "drop")
	p.ld(bpfLD|bpfB|bpfIND, 8) // X += quoted IHL
	p.op(bpfALU|bpfAND, 0xf)
	p.op(bpfALU|bpfLSH, 2)
	p.op(bpfALU|bpfADD|bpfX, 0)
	p.op(bpfMISC|bpfTAX, 0)
	p.quoted(b, 8, 8)
}

// ipv6 matches IPv6 packets whose next header is the transport's.
func (p *prog) ipv6(b Binding) {
	p.ld(bpfLD|bpfB|bpfABS, 6)
	if b.Proto != wire.ProtoICMP {
		p.jeq(uint32(b.Proto), "", "v6icmp")
		p.ld(bpfLD|bpfH|bpfABS, 42)
		p.jeq(uint32(b.Port), "accept", "drop")
		p.label("v6icmp")
	}
	p.jeq(protoICMPv6, "", "drop")
	p.ld(bpfLD|bpfB|bpfABS, 40)
	if b.Proto == wire.ProtoICMP {
		p.jeq(129, "", "v6err")
		p.ld(bpfLD|bpfH|bpfABS, 44)
		p.jeq(uint32(b.Port), "accept", "drop")
		p.label("v6err")
	}
	p.jeq(1, "v6quote", "")
	p.jeq(2, "v6quote", "")
	p.jeq(3, "v6quote", "")
	p.jeq(4, "v6quote", "drop")
	p.label("v6quote")
	p.ld(bpfLD|bpfB|bpfABS, 48+6)
	inner := uint32(b.Proto)
	if b.Proto == wire.ProtoICMP {
		inner = protoICMPv6
	}
	p.jeq(inner, "", "drop")
	p.ldx0()
	p.quoted(b, 88, 128)
}

// quoted matches the quoted transport header at X+off: its source port,
// or an echo request (of type echo) with the bound identifier.
func (p *prog) quoted(b Binding, off uint32, echo uint32) {
	if b.Proto != wire.ProtoICMP {
		p.ld(bpfLD|bpfH|bpfIND, off)
		p.jeq(uint32(b.Port), "accept", "drop")
		return
	}
	p.ld(bpfLD|bpfB|bpfIND, off)
	p.jeq(echo, "", "drop")
	p.ld(bpfLD|bpfH|bpfIND, off+4)
	p.jeq(uint32(b.Port), "accept", "drop")
}

// prog assembles a classic BPF program with forward jumps to labels; the
// label "" is the next instruction.
type prog struct {
	ins    []Insn
	jumps  [][2]string // per instruction: true and false targets
	labels map[string]int
}

func (p *prog) add(i Insn, t, f string) {
	p.ins = append(p.ins, i)
	p.jumps = append(p.jumps, [2]string{t, f})
}

func (p *prog) ld(code uint16, k uint32) { p.add(Insn{Code: code, K: k}, "", "") }
func (p *prog) op(code uint16, k uint32) { p.add(Insn{Code: code, K: k}, "", "") }
func (p *prog) ldx0()                    { p.add(Insn{Code: bpfLDX | bpfW | 0x00, K: 0}, "", "") } // X = 0 (BPF_LDX|BPF_IMM)

func (p *prog) jeq(k uint32, t, f string) {
	p.add(Insn{Code: bpfJMP | bpfJEQ, K: k}, t, f)
}

func (p *prog) jset(k uint32, t, f string) {
	p.add(Insn{Code: bpfJMP | bpfJSET, K: k}, t, f)
}

func (p *prog) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

// assemble resolves the jumps.
func (p *prog) assemble() ([]Insn, error) {
	out := append([]Insn(nil), p.ins...)
	for i, j := range p.jumps {
		for n, name := range j {
			if name == "" {
				continue
			}
			to, ok := p.labels[name]
			off := to - i - 1
			if !ok || off < 0 || off > 255 {
				return nil, fmt.Errorf("bpf: bad jump from %d to %q", i, name)
			}
			if n == 0 {
				out[i].Jt = uint8(off)
			} else {
				out[i].Jf = uint8(off)
			}
		}
	}
	return out, nil
}

package admin

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/sniff"
)

// filter selects packets of the watch stream: a disjunction of
// conjunctions of terms, each maybe negated, written tcpdump-style:
//
//	tcp and dst port 80 or slice pl_foo and not icmp
//
// Terms: tcp, udp, icmp (v4 and v6), node (the host's own traffic),
// slice NAME, host ADDR, src [host] ADDR, dst [host] ADDR, port N, src
// port N, dst port N. "and" binds tighter than "or"; nothing (the empty
// filter) matches every packet.
type filter [][]term

// term is one test of a packet, maybe negated.
type term struct {
	not  bool
	test func(p *sniff.Packet) bool
}

// match reports whether f selects p.
func (f filter) match(p *sniff.Packet) bool {
	if len(f) == 0 {
		return true
	}
	for _, all := range f {
		if allMatch(all, p) {
			return true
		}
	}
	return false
}

func allMatch(terms []term, p *sniff.Packet) bool {
	for _, t := range terms {
		if t.test(p) == t.not {
			return false
		}
	}
	return true
}

// parseFilter reads a filter; the error says which word is wrong.
func parseFilter(s string) (filter, error) {
	words := strings.Fields(s)
	var f filter
	var cur []term
	for i := 0; i < len(words); {
		if words[i] == "or" || words[i] == "and" {
			return nil, fmt.Errorf("filter: %q where a term should be", words[i])
		}
		t, n, err := parseTerm(words[i:])
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		cur, i = append(cur, t), i+n
		if i == len(words) {
			break
		}
		switch words[i] {
		case "and":
		case "or":
			f, cur = append(f, cur), nil
		default:
			return nil, fmt.Errorf("filter: %q: want and or or between terms", words[i])
		}
		if i++; i == len(words) {
			return nil, fmt.Errorf("filter: ends with %q", words[i-1])
		}
	}
	if len(cur) > 0 {
		f = append(f, cur)
	}
	return f, nil
}

// parseTerm reads one term from the start of w and says how many words
// it took.
func parseTerm(w []string) (term, int, error) {
	if w[0] == "not" || w[0] == "!" {
		if len(w) < 2 {
			return term{}, 0, fmt.Errorf("nothing after %q", w[0])
		}
		t, n, err := parseTerm(w[1:])
		t.not = !t.not
		return t, n + 1, err
	}
	proto := map[string]func(uint8) bool{
		"tcp": func(p uint8) bool { return p == 6 }, "udp": func(p uint8) bool { return p == 17 },
		"icmp": func(p uint8) bool { return p == 1 || p == 58 },
	}
	if f, ok := proto[w[0]]; ok {
		return term{test: func(p *sniff.Packet) bool { return f(p.Proto) }}, 1, nil
	}
	if w[0] == "node" {
		return term{test: func(p *sniff.Packet) bool { return p.Slice == "" }}, 1, nil
	}
	if len(w) < 2 {
		return term{}, 0, fmt.Errorf("%q: unknown term or missing argument", w[0])
	}
	switch w[0] {
	case "slice":
		name := w[1]
		return term{test: func(p *sniff.Packet) bool { return p.Slice == name }}, 2, nil
	case "host":
		return addrTerm(w[1], true, true, 2)
	case "port":
		return portTerm(w[1], true, true, 2)
	case "src", "dst":
		src, dst := w[0] == "src", w[0] == "dst"
		switch {
		case w[1] == "port" && len(w) > 2:
			return portTerm(w[2], src, dst, 3)
		case w[1] == "host" && len(w) > 2:
			return addrTerm(w[2], src, dst, 3)
		}
		return addrTerm(w[1], src, dst, 2)
	}
	return term{}, 0, fmt.Errorf("%q: unknown term (tcp, udp, icmp, node, slice, host, src, dst, port)", w[0])
}

func addrTerm(s string, src, dst bool, n int) (term, int, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return term{}, 0, fmt.Errorf("%q: not an IP address", s)
	}
	return term{test: func(p *sniff.Packet) bool { return (src && p.Src == a) || (dst && p.Dst == a) }}, n, nil
}

func portTerm(s string, src, dst bool, n int) (term, int, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return term{}, 0, fmt.Errorf("%q: not a port number", s)
	}
	port := uint16(v)
	return term{test: func(p *sniff.Packet) bool {
		return (p.Proto == 6 || p.Proto == 17) && ((src && p.SrcPort == port) || (dst && p.DstPort == port))
	}}, n, nil
}

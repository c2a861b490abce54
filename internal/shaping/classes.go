package shaping

import (
	"fmt"
	"strings"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// Minor numbers of the node's classes (major 1).
const (
	rootMinor = 1
	nodeMinor = 2
)

// class is one HTB class, handle 1:minor under 1:parent; rates in kbit/s.
type class struct {
	minor, parent uint16
	rate, ceil    int64
	quantum       uint32 // bytes; 0 for the root class
}

func (c class) String() string {
	s := fmt.Sprintf("class htb 1:%x", c.minor)
	if c.parent != 0 {
		s += fmt.Sprintf(" parent 1:%x", c.parent)
	} else {
		s += " root"
	}
	s += fmt.Sprintf(" rate %dkbit ceil %dkbit", c.rate, c.ceil)
	if c.quantum != 0 {
		s += fmt.Sprintf(" quantum %d", c.quantum)
	}
	return s
}

// classes is the whole hierarchy for a cap, slivers (sorted) and their
// throttled ceilings: root, node class, then two classes per sliver.
func classes(root int64, slivers []Sliver, throttle map[string]int64) []class {
	out := []class{
		{minor: rootMinor, rate: root, ceil: root},
		{minor: nodeMinor, parent: rootMinor, rate: min(NodeClassRate, root), ceil: root, quantum: quantum(min(NodeClassRate, root))},
	}
	for _, sl := range slivers {
		out = append(out, sliverClasses(root, sl, throttle[sl.Name])...)
	}
	return out
}

// sliverClasses are sl's main class and low-rate class. throttle, if not
// 0, lowers the ceiling (never under MinRate).
func sliverClasses(root int64, sl Sliver, throttle int64) []class {
	ceil := sl.MaxRate
	if throttle != 0 {
		ceil = max(min(ceil, throttle), sl.MinRate)
	}
	ceil = min(ceil, root)
	rate := min(sl.MinRate, ceil)
	main := uint16(netfilter.Priority(sl.Index))
	low := uint16(netfilter.LowPriority(sl.Index))
	return []class{
		{minor: main, parent: rootMinor, rate: rate, ceil: ceil, quantum: quantum(rate)},
		{minor: low, parent: rootMinor, rate: min(LowRate, root), ceil: min(LowCeil, root), quantum: quantum(LowRate)},
	}
}

// quantum is what a class may send in one round when it borrows: a tenth
// of a second's worth of its rate, as tc's default r2q of 10 makes it,
// clamped to 1600..200000 bytes so no class sends less than a packet or
// hogs a round. Spare capacity is thus shared in proportion to rates
// between 128 kbit/s and 16 Mbit/s.
func quantum(kbit int64) uint32 {
	q := kbit * 1000 / 8 / 10
	return uint32(min(max(q, 1600), 200000))
}

// planText renders classes one per line, as golden files hold them.
func planText(cs []class) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintln(&b, c)
	}
	return b.String()
}

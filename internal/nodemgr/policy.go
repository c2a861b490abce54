package nodemgr

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// DefaultPolicyPath is where a site's admin keeps the node's local policy.
const DefaultPolicyPath = "/etc/orbis/policy"

// A Policy is the node's local policy (paper 2.3: the site's say over its
// own node): the node's bandwidth cap, the most slivers it runs, and how
// much of the node each broker may acquire. The node manager enforces it
// at acquire, split (net_min_rate, which parent and child both keep) and
// bind; rcaps and slivers that exist when a stricter policy
// arrives are left alone.
//
// The file is plain text, one statement a line; '#' starts a comment:
//
//	# /etc/orbis/policy
//	bandwidth 100mbit           # the node's outgoing cap (kbit/s, or kbit, mbit, gbit)
//	max_slivers 200             # slivers on the node, whoever binds them
//	broker central cpu_guarantee=800 memory_guarantee=6G disk_guarantee=80G net_min_rate=50mbit slivers=180
//	broker pl_broker cpu_guarantee=100 memory_guarantee=1G disk_guarantee=20G net_min_rate=10mbit slivers=20
//	broker * slivers=0          # every other slice with the node manager privilege: nothing
//
// A broker line bounds the totals of the rcaps the broker acquires (and
// the rcaps split from them, wherever they were passed): cpu_guarantee in
// thousandths of the node, memory_guarantee and disk_guarantee in bytes
// (suffixes K, M, G, T are powers of 1024), net_min_rate in kbit/s (or
// with kbit, mbit, gbit), and slivers bound to them. A key left out is
// zero: the line bounds every resource, so "broker * slivers=0" gives
// every other slice nothing (every rcap has a net_min_rate, 5 kbit/s by
// default, so a line without net_min_rate acquires nothing). "central" is
// central's resource manager and anyone else calling as root; the pool a
// broker gets from central's delegation counts as central's. A slice named
// by no broker line takes the "broker *" line; with none, it may acquire
// nothing from the node itself and uses only what it was delegated or
// handed. Without a policy file nothing but the node's capacity bounds
// anyone.
type Policy struct {
	// BandwidthKbit caps the node's outgoing rate in kbit/s (0: no cap
	// beyond the node's own bwcap). The node agent applies the lower of
	// this and `orbis node bwcap`; the node manager keeps the sum of
	// net_min_rate under it.
	BandwidthKbit int64
	// MaxSlivers bounds the slivers on the node (0: no bound).
	MaxSlivers int64
	// Brokers maps "central", slice names and "*" to their shares.
	Brokers map[string]BrokerShare
}

// A BrokerShare is how much of the node one broker may acquire. A negative
// field is not bounded.
type BrokerShare struct {
	CPUGuarantee    int64
	MemoryGuarantee int64
	DiskGuarantee   int64
	NetMinRate      int64
	Slivers         int64
}

// unbounded is the share of a broker the policy does not bound.
var unbounded = BrokerShare{-1, -1, -1, -1, -1}

// share returns the share of account ("central" or "slice:<name>").
func (p *Policy) share(account string) BrokerShare {
	if p == nil {
		return unbounded
	}
	name := strings.TrimPrefix(account, slicePrefix)
	if s, ok := p.Brokers[name]; ok {
		return s
	}
	if account == principalCentral {
		return unbounded
	}
	if s, ok := p.Brokers["*"]; ok {
		return s
	}
	return BrokerShare{}
}

// hasShare says whether the policy gives account a share of the node:
// no policy, central, a slice with its own broker line, or any slice when
// there is a "broker *" line.
func (p *Policy) hasShare(account string) bool {
	if p == nil || account == principalCentral {
		return true
	}
	_, named := p.Brokers[strings.TrimPrefix(account, slicePrefix)]
	_, star := p.Brokers["*"]
	return named || star
}

// shareKeys are the keys of a broker line, and where each goes.
var shareKeys = map[string]struct {
	field func(*BrokerShare) *int64
	unit  func(string) (int64, error)
}{
	"cpu_guarantee":    {func(s *BrokerShare) *int64 { return &s.CPUGuarantee }, parseCount},
	"memory_guarantee": {func(s *BrokerShare) *int64 { return &s.MemoryGuarantee }, parseBytes},
	"disk_guarantee":   {func(s *BrokerShare) *int64 { return &s.DiskGuarantee }, parseBytes},
	"net_min_rate":     {func(s *BrokerShare) *int64 { return &s.NetMinRate }, parseKbit},
	"slivers":          {func(s *BrokerShare) *int64 { return &s.Slivers }, parseCount},
}

// of returns the share of the resource named name (a key of a broker
// line, the table's name); -1, unbounded, for one the policy has no key
// for.
func (s BrokerShare) of(name string) int64 {
	k, ok := shareKeys[name]
	if !ok {
		return -1
	}
	return *k.field(&s)
}

// ParsePolicy reads a policy file's text; the error names the line and
// what is wrong with it.
func ParsePolicy(data []byte) (*Policy, error) {
	p := &Policy{Brokers: map[string]BrokerShare{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if err := p.parseLine(words); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return p, nil
}

func (p *Policy) parseLine(words []string) error {
	var err error
	switch words[0] {
	case "bandwidth":
		if len(words) != 2 {
			return fmt.Errorf("want: bandwidth RATE (e.g. 100mbit)")
		}
		p.BandwidthKbit, err = parseKbit(words[1])
	case "max_slivers":
		if len(words) != 2 {
			return fmt.Errorf("want: max_slivers N")
		}
		p.MaxSlivers, err = parseCount(words[1])
	case "broker":
		err = p.parseBroker(words[1:])
	default:
		err = fmt.Errorf("unknown statement %q (want bandwidth, max_slivers or broker)", words[0])
	}
	return err
}

func (p *Policy) parseBroker(words []string) error {
	if len(words) == 0 {
		return fmt.Errorf("want: broker NAME KEY=VALUE... (NAME: central, a slice name, or *)")
	}
	name := words[0]
	if name != principalCentral && name != "*" && checkSliceName(name) != nil {
		return fmt.Errorf("broker %q: want central, a slice name (site_name) or *", name)
	}
	if _, dup := p.Brokers[name]; dup {
		return fmt.Errorf("broker %s: given twice", name)
	}
	var s BrokerShare // a key left out is zero: a line bounds every resource
	for _, kv := range words[1:] {
		k, v, ok := strings.Cut(kv, "=")
		key, known := shareKeys[k]
		switch {
		case !ok:
			return fmt.Errorf("broker %s: %q is not KEY=VALUE", name, kv)
		case !known:
			return fmt.Errorf("broker %s: unknown key %q (want %s)", name, k, strings.Join(keyNames(), ", "))
		}
		n, err := key.unit(v)
		if err != nil {
			return fmt.Errorf("broker %s: %s: %w", name, k, err)
		}
		*key.field(&s) = n
	}
	p.Brokers[name] = s
	return nil
}

func keyNames() []string {
	var out []string
	for k := range shareKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count (want a whole number >= 0)", s)
	}
	return n, nil
}

// parseBytes reads bytes with an optional K, M, G or T (powers of 1024).
func parseBytes(s string) (int64, error) {
	num, mult := s, int64(1)
	if i := strings.IndexAny(s, "KMGTkmgt"); i > 0 && i == len(s)-1 {
		num = s[:i]
		mult = 1 << (10 * (1 + strings.IndexByte("kmgt", strings.ToLower(s[i:])[0])))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > api.MaxQuantity/mult {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with K, M, G or T)", s)
	}
	return n * mult, nil
}

// parseKbit reads a rate in kbit/s: a plain number, or one with kbit, mbit
// or gbit.
func parseKbit(s string) (int64, error) {
	num, mult := s, int64(1)
	for suffix, m := range map[string]int64{"kbit": 1, "mbit": 1000, "gbit": 1000_000} {
		if v, ok := strings.CutSuffix(strings.ToLower(s), suffix); ok {
			num, mult = v, m
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > api.MaxNetRate/mult {
		return 0, fmt.Errorf("%q is not a rate (want kbit/s, or a number with kbit, mbit or gbit, at most 100gbit)", s)
	}
	return n * mult, nil
}

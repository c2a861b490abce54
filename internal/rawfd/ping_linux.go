package rawfd

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// pingGroupRange is the sysctl that lets the members of a range of groups
// open ICMP datagram sockets (socket(AF_INET or AF_INET6, SOCK_DGRAM,
// IPPROTO_ICMP or IPPROTO_ICMPV6)), which is how iputils ping and
// tracepath work without privilege. It is per network namespace: the one
// of the thread that opens it.
const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

// maxPingGID is the largest GID the sysctl takes.
const maxPingGID = 1<<32 - 2

// GroupRange is an inclusive range of host GIDs; Lo > Hi is empty (the
// kernel's default, "1 0").
type GroupRange struct{ Lo, Hi uint32 }

func (r GroupRange) empty() bool { return r.Lo > r.Hi }

// covers reports whether r holds all of o.
func (r GroupRange) covers(o GroupRange) bool {
	return o.empty() || !r.empty() && r.Lo <= o.Lo && o.Hi <= r.Hi
}

// union is the smallest range holding r and o.
func (r GroupRange) union(o GroupRange) GroupRange {
	switch {
	case r.empty():
		return o
	case o.empty():
		return r
	}
	return GroupRange{min(r.Lo, o.Lo), max(r.Hi, o.Hi)}
}

// WidenPingGroups makes the calling thread's network namespace let the
// GIDs of want open ICMP datagram sockets. It widens, never narrows: a
// range already set (by the operator, or another node sharing the
// namespace) is kept and grown to the smallest range that also holds want,
// which may take in GIDs between the two. It returns the range before and
// after.
func WidenPingGroups(want GroupRange) (was, now GroupRange, err error) {
	if want.Hi > maxPingGID {
		want.Hi = maxPingGID
	}
	// Another node may write between our read and write: read again, and
	// write again until the range holds ours.
	for i := range 5 {
		if now, err = readPingGroups(); err != nil {
			return was, now, err
		}
		if i == 0 {
			was = now
		}
		if now.covers(want) {
			return was, now, nil
		}
		next := now.union(want)
		if err := os.WriteFile(pingGroupRange, fmt.Appendf(nil, "%d %d\n", next.Lo, next.Hi), 0o644); err != nil {
			return was, now, fmt.Errorf("set ping_group_range: %w", err)
		}
	}
	return was, now, fmt.Errorf("set ping_group_range: it does not hold %d-%d after 5 writes (another process narrows it)", want.Lo, want.Hi)
}

func readPingGroups() (GroupRange, error) {
	b, err := os.ReadFile(pingGroupRange)
	if err != nil {
		return GroupRange{}, fmt.Errorf("read ping_group_range: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return GroupRange{}, fmt.Errorf("read ping_group_range: %q", b)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 32)
	hi, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return GroupRange{}, fmt.Errorf("read ping_group_range: %q", b)
	}
	return GroupRange{uint32(lo), uint32(hi)}, nil
}

// Package netfilter tags every packet a sliver sends or receives with its
// slice, in one nftables table of the node's network namespace (inet family:
// IPv4 and IPv6), so that shaping, accounting and auditing agree on whose
// packet it is.
//
// The tagging scheme (paper section 4.2.2: "packets sent by a vserver are
// tagged in the kernel and subsequently classified"). Each sliver has a
// mark, SocketMark(Index), and every decision is a lookup in a set keyed
// by UID range or by mark, so a packet costs the same with 5 slivers or
// 10,000, and adding or removing a sliver only adds or deletes its
// elements (rules_linux.go shows the table):
//
//   - Output: a packet whose socket belongs to a UID in the sliver's host
//     range (meta skuid) is the sliver's. So is a packet with the
//     sliver's mark (see below), and a packet of a connection whose
//     conntrack mark is the sliver's mark: that catches the packets the
//     kernel makes on a sliver's behalf and that carry no socket UID (RSTs
//     and ACKs of time-wait sockets, retransmits of request sockets after
//     the first reply).
//   - A sliver's packet gets the sliver's mark as its mark (meta mark)
//     and its connection's (ct mark, so replies are attributed on input),
//     is counted in the sliver's element of the tx set, is logged, and
//     gets skb->priority set to the sliver's HTB class,
//     1:(Index+ClassOffset), or to its low-rate class for ICMP echo
//     requests and packets with IP options (IPv4 header longer than 20
//     bytes, or an IPv6 hop-by-hop header). The HTB qdisc on the uplink
//     classifies by skb->priority directly, since the tc cgroup and fw
//     classifiers are missing from the kernels Orbis supports (a cgroup
//     v2 tree has no net_cls classid, and distribution kernels ship
//     without the fw filter built in).
//   - Input: a packet whose connection carries the sliver's mark is
//     counted in its element of the rx set.
//   - Sockets the node agent carries a sliver's traffic on (the SSH
//     gateway's connection of a slice that logged in) are the agent's, so
//     their UID is root's: the agent marks such a socket with SO_MARK
//     SocketMark(Index), and a packet with that mark is tagged as if a
//     sliver's UID had sent it: shaped, counted (and so held to the daily
//     byte cap) and logged as the slice's, and its connection's replies
//     counted as the slice's input. Only a process with CAP_NET_ADMIN or
//     CAP_NET_RAW in the node's user namespace can set SO_MARK; a
//     sliver's root has them only in the sliver's own user namespace, so
//     it cannot claim another slice's mark (or any mark).
//
// Why UIDs and not cgroups: every process of a sliver runs in its host UID
// range, whatever cgroup it moved to, and the UID of a socket is fixed when
// it is created, so a socket handed to another process keeps its owner.
// google/nftables loads skuid in host byte order; the rules convert it to
// network order (byteorder hton) and look it up among big-endian interval
// bounds, as the nft command line does, since the host-endian value would
// not sort as a number.
//
// What is not attributed: the first packet a remote host sends to a
// sliver's listening socket (its connection has no mark until the sliver
// answers), and a TCP SYN-ACK from a listener (it leaves from a request
// socket, which has no UID). The table owns the whole conntrack mark, and
// sets the packet mark of a sliver's packets.
package netfilter

import (
	"context"
	"fmt"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// DefaultTable is the table's name on a node.
const DefaultTable = "orbis"

// ClassOffset is added to a sliver's Index to make the minor number of its
// HTB class, 1:(Index+ClassOffset); minors below it are the node's own
// (1:1 root, 1:2 traffic of no sliver).
const ClassOffset = 0x10

// LowClassBit is set in the minor of a sliver's low-rate class (ICMP echo
// and IP options): 1:(Index+ClassOffset)|LowClassBit.
const LowClassBit = 0x8000

// MaxIndex is the largest sliver Index that fits both classes in HTB's
// 16-bit minor numbers.
const MaxIndex = LowClassBit - ClassOffset - 1

// Sliver is one sliver's network identity and rspec: the whole desired
// state of its tagging. Shaping uses the same type.
type Sliver struct {
	Name              string     // slice name
	UIDBase, UIDCount uint32     // host UID range
	Cgroup            string     // absolute path of its cgroup v2 directory (unused here)
	Index             uint32     // small unique per-node number, 1..MaxIndex
	MinRate, MaxRate  int64      // kbit/s (defaults applied by the caller)
	Ports             []api.Port // reserved ports (unused here)
	// DailyMaxKB and DailyThreshKB are PlanetLab's net_max_kbyte and
	// net_thresh_kbyte (0 = none).
	DailyMaxKB, DailyThreshKB int64
}

// Validate reports what makes s unusable for tagging.
func (s Sliver) Validate() error {
	switch {
	case s.Name == "" || len(s.Name) > 200 || strings.ContainsAny(s.Name, "\x00/ "):
		return fmt.Errorf("sliver name %q: empty, too long or with a space, slash or NUL", s.Name)
	case s.Index == 0 || s.Index > MaxIndex:
		return fmt.Errorf("sliver %s: index %d outside 1..%d", s.Name, s.Index, MaxIndex)
	case s.UIDCount == 0 || s.UIDBase == 0 || uint64(s.UIDBase)+uint64(s.UIDCount) >= 1<<32:
		return fmt.Errorf("sliver %s: bad UID range %d+%d", s.Name, s.UIDBase, s.UIDCount)
	}
	return nil
}

// Priority is the skb->priority (a tc handle) that sends a sliver's packets
// to its HTB class.
func Priority(index uint32) uint32 { return 1<<16 | (index + ClassOffset) }

// LowPriority is the skb->priority of a sliver's low-rate class.
func LowPriority(index uint32) uint32 { return Priority(index) | LowClassBit }

// socketMarkBase is the high half of every SocketMark: one value no other
// part of the node uses, so that a mark set for another purpose (policy
// routing) is never taken for a sliver's.
const socketMarkBase = 0x4f520000

// SocketMark is the SO_MARK that makes the tagger take a socket's packets
// for those of the sliver with this Index (see the package comment). It is
// also the mark every packet of that sliver leaves with, and its
// connection's conntrack mark.
func SocketMark(index uint32) uint32 { return socketMarkBase | index }

// markIndex is the Index whose SocketMark is mark, or 0.
func markIndex(mark uint32) uint32 {
	if mark&^0xffff != socketMarkBase {
		return 0
	}
	return mark & 0xffff
}

// Counters are one sliver's packet and byte counts since its tagging was
// first set (they survive later Set calls that keep its Index, and agent
// restarts).
type Counters struct {
	TxBytes, RxBytes     uint64
	TxPackets, RxPackets uint64
}

// Interface is what the rest of the node uses; Tagger is the kernel one and
// Fake an in-memory one for other packages' tests.
type Interface interface {
	Set(ctx context.Context, s Sliver) error
	Remove(ctx context.Context, name string) error
	Counters(ctx context.Context) (map[string]Counters, error)
	Close() error
}

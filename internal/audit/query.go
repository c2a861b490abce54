package audit

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Limits of the work one query does beyond its scan of the table.
const (
	maxDstsShown    = 200 // destinations in a summary
	maxSeriesSlices = 8   // slices plotted, the rest summed as OtherSlices
	maxPortsShown   = 64  // ports per slice of a destination
	maxRecordsShown = 100 // raw records of a destination
)

// SliceSum is one slice's traffic in the hour.
type SliceSum struct {
	Slice          string
	Packets, Bytes uint64
	Dsts           int // distinct destination addresses
	id             uint32
}

// DstSum is the traffic to one destination address in the hour.
type DstSum struct {
	Dst            netip.Addr
	Packets, Bytes uint64
	Slices         []string
}

// Series is one slice's packets per minute of the hour, oldest first.
type Series struct {
	Slice   string
	Packets []uint64
}

// Summary is the node's hour by slice and by destination.
type Summary struct {
	From, To   time.Time // the hour covered: minutes [From, To)
	Counters   Counters
	Rows, Cap  int // aggregate rows held, and at most
	BySlice    []SliceSum
	ByDst      []DstSum // the busiest destinations, at most maxDstsShown
	Dsts       int      // distinct destinations in all
	Minutes    []time.Time
	Series     []Series
	TotalBytes uint64
}

// dstAgg sums one destination during a scan.
type dstAgg struct {
	packets, bytes uint64
	slices         []uint32
}

// Summary sums up the hour.
func (s *Store) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.newest - uint32(windowMinutes) + 1
	sum := Summary{
		From: minuteTime(first), To: minuteTime(s.newest + 1),
		Counters: s.counters, Rows: s.used, Cap: len(s.entries),
	}
	bySlice := map[uint32]*SliceSum{}
	byDst := map[netip.Addr]*dstAgg{}
	series := map[uint32][]uint64{}
	s.scanLocked(func(e *entry) {
		ss := bySlice[e.key.slice]
		if ss == nil {
			ss = &SliceSum{Slice: s.slices[e.key.slice], id: e.key.slice}
			bySlice[e.key.slice] = ss
		}
		ss.Packets += e.packets
		ss.Bytes += e.bytes
		sum.TotalBytes += e.bytes
		addr := keyAddr(e.key.dst, e.key.v4)
		d := byDst[addr]
		if d == nil {
			d = &dstAgg{}
			byDst[addr] = d
		}
		d.packets += e.packets
		d.bytes += e.bytes
		if !slices.Contains(d.slices, e.key.slice) {
			d.slices = append(d.slices, e.key.slice)
			ss.Dsts++
		}
		if series[e.key.slice] == nil {
			series[e.key.slice] = make([]uint64, windowMinutes)
		}
		series[e.key.slice][e.key.minute-first] += e.packets
	})
	for _, ss := range bySlice {
		sum.BySlice = append(sum.BySlice, *ss)
	}
	slices.SortFunc(sum.BySlice, func(a, b SliceSum) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Slice, b.Slice))
	})
	sum.Dsts = len(byDst)
	sum.ByDst = s.topDstsLocked(byDst)
	for i := range windowMinutes {
		sum.Minutes = append(sum.Minutes, minuteTime(first+uint32(i)))
	}
	sum.Series = s.seriesLocked(sum.BySlice, series)
	return sum
}

// scanLocked calls f on every row of the hour.
func (s *Store) scanLocked(f func(e *entry)) {
	for m := s.newest - uint32(windowMinutes) + 1; m <= s.newest; m++ {
		l := &s.minutes[m%uint32(windowMinutes)]
		if l.minute != m {
			continue
		}
		for i := l.head; i >= 0; i = s.entries[i].lnext {
			f(&s.entries[i])
		}
	}
}

// topDstsLocked returns the busiest destinations, most packets first.
func (s *Store) topDstsLocked(byDst map[netip.Addr]*dstAgg) []DstSum {
	out := make([]DstSum, 0, len(byDst))
	for a, d := range byDst {
		out = append(out, DstSum{Dst: a, Packets: d.packets, Bytes: d.bytes})
	}
	slices.SortFunc(out, func(a, b DstSum) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), a.Dst.Compare(b.Dst))
	})
	out = out[:min(len(out), maxDstsShown)]
	for i := range out {
		for _, id := range byDst[out[i].Dst].slices {
			out[i].Slices = append(out[i].Slices, s.slices[id])
		}
		slices.Sort(out[i].Slices)
	}
	return out
}

// seriesLocked returns the plotted series: the busiest slices, and the
// rest summed under OtherSlices.
func (s *Store) seriesLocked(bySlice []SliceSum, series map[uint32][]uint64) []Series {
	var out []Series
	var other []uint64
	for i, ss := range bySlice {
		id := ss.id
		if len(bySlice) <= maxSeriesSlices || i < maxSeriesSlices-1 {
			out = append(out, Series{Slice: ss.Slice, Packets: series[id]})
			continue
		}
		if other == nil {
			other = make([]uint64, windowMinutes)
		}
		for m, n := range series[id] {
			other[m] += n
		}
	}
	if other != nil {
		out = append(out, Series{Slice: OtherSlices, Packets: other})
	}
	return out
}

// PortSum is the traffic to one protocol and port.
type PortSum struct {
	Proto   uint8
	Port    uint16
	Packets uint64
}

// DstSlice is one slice's traffic to a destination in the hour.
type DstSlice struct {
	Slice          string
	Packets, Bytes uint64
	TCPFlags       uint8
	First, Last    time.Time // minutes
	Ports          []PortSum // the busiest maxPortsShown
	MorePorts      int       // ports beyond those
}

// RawRecord is one packet of the ring of recent records.
type RawRecord struct {
	Time             time.Time
	Slice            string
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	TCPFlags         uint8
	Len              int
}

// Destination is what the hour holds about one destination address.
type Destination struct {
	Addr     netip.Addr
	From, To time.Time
	Slices   []DstSlice
	Records  []RawRecord // the most recent, newest first
}

// Destination returns the slices that sent to addr in the hour.
func (s *Store) Destination(addr netip.Addr) Destination {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.newest - uint32(windowMinutes) + 1
	d := Destination{Addr: addr, From: minuteTime(first), To: minuteTime(s.newest + 1)}
	key, v4 := addrKey(addr)
	bySlice := map[uint32]*DstSlice{}
	ports := map[uint32]map[[2]uint16]uint64{}
	s.scanLocked(func(e *entry) {
		if e.key.dst != key || e.key.v4 != v4 {
			return
		}
		ds := bySlice[e.key.slice]
		if ds == nil {
			ds = &DstSlice{Slice: s.slices[e.key.slice], First: minuteTime(e.key.minute)}
			bySlice[e.key.slice] = ds
			ports[e.key.slice] = map[[2]uint16]uint64{}
		}
		ds.Packets += e.packets
		ds.Bytes += e.bytes
		ds.TCPFlags |= e.flags
		ds.First = minTime(ds.First, minuteTime(e.key.minute))
		ds.Last = maxTime(ds.Last, minuteTime(e.key.minute))
		ports[e.key.slice][[2]uint16{uint16(e.key.proto), e.key.dport}] += e.packets
	})
	for id, ds := range bySlice {
		ds.Ports, ds.MorePorts = topPorts(ports[id])
		d.Slices = append(d.Slices, *ds)
	}
	slices.SortFunc(d.Slices, func(a, b DstSlice) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Slice, b.Slice))
	})
	d.Records = s.recordsToLocked(key, v4)
	return d
}

// topPorts returns the busiest ports and how many more there are.
func topPorts(m map[[2]uint16]uint64) ([]PortSum, int) {
	out := make([]PortSum, 0, len(m))
	for k, n := range m {
		out = append(out, PortSum{Proto: uint8(k[0]), Port: k[1], Packets: n})
	}
	slices.SortFunc(out, func(a, b PortSum) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	if len(out) > maxPortsShown {
		return out[:maxPortsShown], len(out) - maxPortsShown
	}
	return out, 0
}

// recordsToLocked returns the ring's most recent records to one address.
func (s *Store) recordsToLocked(key [16]byte, v4 bool) []RawRecord {
	var out []RawRecord
	for n := 1; n <= s.ringLen && len(out) < maxRecordsShown; n++ {
		r := &s.ring[(s.ringNext-n+len(s.ring))%len(s.ring)]
		if r.dst != key || r.v4 != v4 {
			continue
		}
		out = append(out, RawRecord{
			Time: time.Unix(0, r.time).UTC(), Slice: s.slices[r.slice],
			Src: keyAddr(r.src, r.v4), Dst: keyAddr(r.dst, r.v4),
			Proto: r.proto, SrcPort: r.sport, DstPort: r.dport, TCPFlags: r.flags, Len: int(r.length),
		})
	}
	return out
}

// Advance moves the hour on to now, expiring older rows.
func (s *Store) Advance(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := unixMinute(now); s.newest != 0 && m > s.newest {
		s.advanceLocked(m)
	}
}

// CloseMinutes hands over the rows of every minute that ended before now
// and was not closed yet, oldest first, and moves the hour on to now.
// Packets that come later for a closed minute count in the oldest open one.
func (s *Store) CloseMinutes(now time.Time) []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := unixMinute(now)
	if s.newest == 0 {
		return nil
	}
	if m > s.newest {
		s.advanceLocked(m)
	}
	var rows []Row
	for ; s.archived+1 < m; s.archived++ {
		c := s.archived + 1
		l := &s.minutes[c%uint32(windowMinutes)]
		if l.minute != c {
			continue
		}
		for i := l.head; i >= 0; i = s.entries[i].lnext {
			rows = append(rows, s.rowOfLocked(&s.entries[i]))
		}
	}
	return rows
}

// rowOfLocked returns the archived form of a row.
func (s *Store) rowOfLocked(e *entry) Row {
	return Row{
		Minute: minuteTime(e.key.minute), Slice: s.slices[e.key.slice],
		Dst: keyAddr(e.key.dst, e.key.v4), Proto: e.key.proto, DstPort: e.key.dport,
		TCPFlags: e.flags, Packets: e.packets, Bytes: e.bytes,
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

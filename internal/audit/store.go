package audit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Window is how long the node keeps its records queryable: the last hour,
// as whole minutes.
const (
	Window        = time.Hour
	windowMinutes = int(Window / time.Minute)
)

// Defaults of a StoreConfig's zero fields.
const (
	DefaultMemoryBytes = 64 << 20
	DefaultMaxSlices   = 1024
	// maxSliceName is the longest slice name kept; longer ones are cut.
	maxSliceName = 64
	// sliceCost is the memory reserved per interned slice name: the name,
	// its string header and its map entry, generously.
	sliceCost = maxSliceName + 128
)

// StoreConfig sizes a Store.
type StoreConfig struct {
	// MemoryBytes bounds the memory of the store's tables: they are
	// allocated once, within it, and never grow. Zero means
	// DefaultMemoryBytes.
	MemoryBytes int64
	// RawRecords is the length of the ring of recent raw records, taken
	// out of MemoryBytes; zero means an eighth of MemoryBytes, negative
	// means none.
	RawRecords int
	// MaxSlices bounds the distinct slice names kept; the packets of
	// further slices are counted under OtherSlices. Zero means
	// DefaultMaxSlices.
	MaxSlices int
}

// Names the pages give to traffic without a slice of its own.
const (
	// OtherSlices names the slices beyond StoreConfig.MaxSlices.
	OtherSlices = "(other slices)"
	// NodeTraffic names the node's own traffic (Packet.Slice "").
	NodeTraffic = "(node)"
)

// aggKey names one aggregate row; it holds no pointer, so the tables cost
// the garbage collector nothing to scan.
type aggKey struct {
	dst    [16]byte
	minute uint32 // Unix minutes
	slice  uint32 // index in Store.slices
	dport  uint16
	proto  uint8
	v4     bool
}

// entry is one aggregate row, chained in its hash bucket and in its
// minute's list, oldest first.
type entry struct {
	key     aggKey
	flags   uint8
	packets uint64
	bytes   uint64
	hnext   int32
	lnext   int32
}

// record is one raw packet in the ring of recent records.
type record struct {
	time         int64 // Unix nanoseconds
	src, dst     [16]byte
	sport, dport uint16
	slice        uint32
	length       uint32
	proto, flags uint8
	v4           bool
}

// minuteList is the list of one minute's rows in insertion order.
type minuteList struct {
	minute     uint32
	head, tail int32
	n          int32
}

// Sizes of the tables' elements, for sizing them from the bound.
const (
	entrySize  = int64(unsafe.Sizeof(entry{}))
	recordSize = int64(unsafe.Sizeof(record{}))
	bucketSize = int64(unsafe.Sizeof(int32(0)))
)

// Counters are what the store has seen and lost.
type Counters struct {
	// Received counts packets added to the store.
	Received uint64
	// StreamDropped counts packets the sniffer stream dropped before the
	// auditor saw them.
	StreamDropped uint64
	// EvictedPackets counts packets whose rows the memory bound evicted
	// before their minute was archived: lost to both node and archive.
	EvictedPackets, EvictedRows uint64
	// ForgottenPackets counts packets whose rows the bound evicted after
	// their minute was archived: gone from the node's pages only.
	ForgottenPackets, ForgottenRows uint64
	// ExpiredPackets counts packets whose rows left the hour.
	ExpiredPackets uint64
}

// Dropped is every packet the node's pages cannot show although it was
// sent within the hour: dropped by the stream or evicted by the bound.
func (c Counters) Dropped() uint64 {
	return c.StreamDropped + c.EvictedPackets + c.ForgottenPackets
}

// Store is the auditor's memory of the last hour, within a fixed bound.
// It is safe for concurrent use.
type Store struct {
	seed maphash.Seed

	// mu guards the following.
	mu       sync.Mutex
	entries  []entry
	buckets  []int32
	free     int32 // head of the free entries, chained by hnext
	used     int
	minutes  [windowMinutes]minuteList // by minute % windowMinutes
	newest   uint32                    // newest minute seen; 0 before any packet
	archived uint32                    // minutes up to this one are closed
	ring     []record
	ringNext int
	ringLen  int
	slices   []string
	sliceIDs map[string]uint32
	maxSlice int
	counters Counters
}

// NewStore allocates a store's tables within cfg.MemoryBytes.
func NewStore(cfg StoreConfig) (*Store, error) {
	mem := cfg.MemoryBytes
	if mem == 0 {
		mem = DefaultMemoryBytes
	}
	maxSlices := cfg.MaxSlices
	if maxSlices == 0 {
		maxSlices = DefaultMaxSlices
	}
	raw := int64(cfg.RawRecords)
	switch {
	case raw == 0:
		raw = mem / 8 / recordSize
	case raw < 0:
		raw = 0
	}
	rest := mem - raw*recordSize - int64(maxSlices+1)*sliceCost
	n := entriesWithin(rest)
	if n < 1 {
		return nil, errors.New("audit store: memory bound too small for one row")
	}
	s := &Store{
		seed:     maphash.MakeSeed(),
		entries:  make([]entry, n),
		buckets:  make([]int32, bucketsFor(n)),
		ring:     make([]record, raw),
		slices:   make([]string, 1, maxSlices+1),
		sliceIDs: make(map[string]uint32, maxSlices+1),
		maxSlice: maxSlices,
	}
	s.slices[0] = OtherSlices
	s.resetLocked()
	return s, nil
}

// entriesWithin returns how many entries, with their buckets, fit in mem.
func entriesWithin(mem int64) int {
	n := mem / (entrySize + bucketSize)
	for n > 0 && n*entrySize+int64(bucketsFor(int(n)))*bucketSize > mem {
		n = n * 15 / 16
	}
	return int(min(n, 1<<30))
}

// bucketsFor returns the number of hash buckets for n entries: the power
// of two at least n/2 (chains of two on average when full).
func bucketsFor(n int) int {
	b := 1
	for b < n/2 {
		b <<= 1
	}
	return b
}

// resetLocked empties the tables.
func (s *Store) resetLocked() {
	for i := range s.buckets {
		s.buckets[i] = -1
	}
	for i := range s.entries {
		s.entries[i].hnext = int32(i + 1)
	}
	s.entries[len(s.entries)-1].hnext = -1
	s.free = 0
	for i := range s.minutes {
		s.minutes[i] = minuteList{head: -1, tail: -1}
	}
}

// Capacity returns how many aggregate rows and raw records the store holds
// at most.
func (s *Store) Capacity() (rows, records int) { return len(s.entries), len(s.ring) }

// TableBytes returns the memory of the store's tables.
func (s *Store) TableBytes() int64 {
	return int64(len(s.entries))*entrySize + int64(len(s.buckets))*bucketSize +
		int64(len(s.ring))*recordSize + int64(cap(s.slices))*sliceCost
}

// Counters returns the store's counters.
func (s *Store) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// SetStreamDropped records the stream's count of dropped packets.
func (s *Store) SetStreamDropped(n uint64) {
	s.mu.Lock()
	s.counters.StreamDropped = n
	s.mu.Unlock()
}

// Add records packets.
func (s *Store) Add(pkts ...Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range pkts {
		s.addLocked(&pkts[i])
	}
}

// addLocked records one packet in its row and in the ring.
func (s *Store) addLocked(p *Packet) {
	s.counters.Received++
	k := aggKey{
		minute: s.minuteForLocked(p.Time),
		slice:  s.sliceIDLocked(p.Slice),
		dport:  p.DstPort,
		proto:  p.Proto,
	}
	k.dst, k.v4 = addrKey(p.Dst)
	e := s.rowLocked(k)
	e.packets++
	e.bytes += uint64(max(p.Len, 0))
	e.flags |= p.TCPFlags
	if len(s.ring) > 0 {
		s.ring[s.ringNext] = recordOf(p, k.slice)
		s.ringNext = (s.ringNext + 1) % len(s.ring)
		s.ringLen = min(s.ringLen+1, len(s.ring))
	}
}

// minuteForLocked returns the minute a packet sent at t is counted in: its
// own, or the oldest open one for a packet late for an archived minute.
// A newer minute moves the hour on.
func (s *Store) minuteForLocked(t time.Time) uint32 {
	m := unixMinute(t)
	if s.newest == 0 {
		s.newest, s.archived = m, m-1
	}
	if m > s.newest {
		s.advanceLocked(m)
	}
	return max(m, s.archived+1)
}

// advanceLocked makes m the newest minute, expiring rows out of the hour.
func (s *Store) advanceLocked(m uint32) {
	if m-s.newest >= uint32(windowMinutes) {
		for i := range s.minutes {
			s.expireLocked(&s.minutes[i])
		}
	} else {
		for old := s.newest + 1; old <= m; old++ {
			s.expireLocked(&s.minutes[old%uint32(windowMinutes)])
		}
	}
	s.newest = m
	if s.archived+uint32(windowMinutes) < m {
		// Minutes never closed left the hour: nothing of them remains.
		s.archived = m - uint32(windowMinutes)
	}
}

// expireLocked frees every row of a minute that leaves the hour.
func (s *Store) expireLocked(l *minuteList) {
	for l.head >= 0 {
		i := l.head
		s.counters.ExpiredPackets += s.entries[i].packets
		s.popLocked(l)
	}
	*l = minuteList{head: -1, tail: -1}
}

// rowLocked returns the row of k, making it, and evicting the oldest row
// when the table is full.
func (s *Store) rowLocked(k aggKey) *entry {
	b := s.bucket(k)
	for i := s.buckets[b]; i >= 0; i = s.entries[i].hnext {
		if s.entries[i].key == k {
			return &s.entries[i]
		}
	}
	if s.free < 0 {
		s.evictOldestLocked()
	}
	i := s.free
	e := &s.entries[i]
	s.free = e.hnext
	*e = entry{key: k, hnext: s.buckets[b], lnext: -1}
	s.buckets[b] = i
	s.used++
	l := &s.minutes[k.minute%uint32(windowMinutes)]
	if l.minute != k.minute {
		*l = minuteList{minute: k.minute, head: -1, tail: -1}
	}
	if l.tail >= 0 {
		s.entries[l.tail].lnext = i
	} else {
		l.head = i
	}
	l.tail = i
	l.n++
	return e
}

// evictOldestLocked frees the oldest row and counts its packets.
func (s *Store) evictOldestLocked() {
	for m := s.newest - uint32(windowMinutes) + 1; m <= s.newest; m++ {
		l := &s.minutes[m%uint32(windowMinutes)]
		if l.n == 0 || l.minute != m {
			continue
		}
		e := &s.entries[l.head]
		if m <= s.archived {
			s.counters.ForgottenPackets += e.packets
			s.counters.ForgottenRows++
		} else {
			s.counters.EvictedPackets += e.packets
			s.counters.EvictedRows++
		}
		s.popLocked(l)
		return
	}
	panic(fmt.Sprintf("audit store: full (%d rows) but no row in the hour", s.used))
}

// popLocked unlinks the head of a minute's list from its bucket and frees it.
func (s *Store) popLocked(l *minuteList) {
	i := l.head
	e := &s.entries[i]
	l.head = e.lnext
	if l.head < 0 {
		l.tail = -1
	}
	l.n--
	b := s.bucket(e.key)
	if s.buckets[b] == i {
		s.buckets[b] = e.hnext
	} else {
		j := s.buckets[b]
		for s.entries[j].hnext != i {
			j = s.entries[j].hnext
		}
		s.entries[j].hnext = e.hnext
	}
	e.hnext = s.free
	s.free = i
	s.used--
}

// bucket returns the hash bucket of k.
func (s *Store) bucket(k aggKey) int {
	return int(maphash.Comparable(s.seed, k) & uint64(len(s.buckets)-1))
}

// sliceIDLocked interns a slice name, cut to maxSliceName bytes.
func (s *Store) sliceIDLocked(name string) uint32 {
	if name == "" {
		name = NodeTraffic
	}
	if len(name) > maxSliceName {
		name = name[:maxSliceName]
	}
	if id, ok := s.sliceIDs[name]; ok {
		return id
	}
	if len(s.slices) > s.maxSlice {
		return 0
	}
	name = strings.Clone(name) // not the packet's backing array
	id := uint32(len(s.slices))
	s.slices = append(s.slices, name)
	s.sliceIDs[name] = id
	return id
}

// unixMinute returns t's minute since the Unix epoch.
func unixMinute(t time.Time) uint32 { return uint32(t.Unix() / 60) }

// minuteTime returns the start of a Unix minute.
func minuteTime(m uint32) time.Time { return time.Unix(int64(m)*60, 0).UTC() }

// addrKey packs an address without a pointer.
func addrKey(a netip.Addr) ([16]byte, bool) { return a.As16(), a.Is4() }

// keyAddr unpacks an address packed by addrKey.
func keyAddr(b [16]byte, v4 bool) netip.Addr {
	a := netip.AddrFrom16(b)
	if v4 {
		return a.Unmap()
	}
	return a
}

// recordOf packs a packet for the ring.
func recordOf(p *Packet, slice uint32) record {
	r := record{
		time: p.Time.UnixNano(), sport: p.SrcPort, dport: p.DstPort,
		slice: slice, length: uint32(max(p.Len, 0)), proto: p.Proto, flags: p.TCPFlags,
	}
	r.src, _ = addrKey(p.Src)
	r.dst, r.v4 = addrKey(p.Dst)
	return r
}

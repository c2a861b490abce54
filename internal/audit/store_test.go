package audit

import (
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// heapInUse returns the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// flowPacket returns the i-th of n packets of flows distinct flows of two
// slices, spread over the hour before testNow.
func flowPacket(i, n, flows int) Packet {
	f := i % flows
	slice := "alice_ping"
	if f%2 == 1 {
		slice = "bob_scan"
	}
	return Packet{
		Time:  testNow.Add(-time.Hour + time.Duration(float64(time.Hour)*float64(i)/float64(n))),
		Slice: slice, Src: netip.AddrFrom4([4]byte{10, 0, 0, 2}),
		Dst:   netip.AddrFrom4([4]byte{198, 18, byte(f >> 8), byte(f)}),
		Proto: 6, SrcPort: 40000, DstPort: uint16(1 + f%7), TCPFlags: 0x10, Len: 60,
	}
}

// TestMemoryBoundAndDrops feeds a million packets of 100,000 flows through
// the fake stream into a store too small for them: the heap stays within
// the bound, and every packet is either shown or counted as dropped, on
// the page itself.
func TestMemoryBoundAndDrops(t *testing.T) {
	const (
		packets     = 1_000_000
		flows       = 100_000
		bound       = 8 << 20
		buffer      = 1024
		streamDrops = 12_345
	)
	base := heapInUse()
	a, src := startAuditor(t, Config{Store: StoreConfig{MemoryBytes: bound}, Buffer: buffer})
	// The stream's buffer is the sniffer's, outside the store's bound.
	limit := int64(bound) + buffer*int64(unsafeSizeofPacket)
	var peak int64
	for i := range packets {
		src.Send(flowPacket(i, packets, flows))
		if i == packets/2 {
			src.Drop(streamDrops)
		}
		if i%(packets/10) == 0 {
			peak = max(peak, heapInUse()-base)
		}
	}
	waitReceived(t, a, packets)
	peak = max(peak, heapInUse()-base)
	t.Logf("heap growth at most %d bytes, bound %d (+ stream buffer %d); store tables %d bytes",
		peak, bound, limit-bound, a.Store().TableBytes())
	if peak > limit {
		t.Errorf("heap grew by %d bytes, over the bound %d", peak, limit)
	}
	if tb := a.Store().TableBytes(); tb > bound {
		t.Errorf("store tables take %d bytes, over the bound %d", tb, bound)
	}

	src.Send(flowPacket(0, packets, flows)) // makes the auditor read the stream's drops again
	waitReceived(t, a, packets+1)
	c := a.Store().Counters()
	if c.StreamDropped != streamDrops {
		t.Errorf("stream drops %d, want %d", c.StreamDropped, streamDrops)
	}
	if c.EvictedPackets+c.ForgottenPackets == 0 {
		t.Fatalf("the bound evicted nothing: the test's bound is too large")
	}
	h := NewHandler(a, HandlerConfig{Node: "n"})
	_, doc := get(t, h, "/")
	num := func(id string) uint64 {
		n, err := strconv.ParseUint(text(find(doc, byID(id))), 10, 64)
		if err != nil {
			t.Fatalf("#%s: %v", id, err)
		}
		return n
	}
	var held uint64
	for _, row := range tableRows(t, doc, "by-slice") {
		n, _ := strconv.ParseUint(row[1], 10, 64)
		held += n
	}
	if got := num("stream-dropped"); got != streamDrops {
		t.Errorf("page shows %d stream drops, want %d", got, streamDrops)
	}
	if got := num("received"); got != packets+1 {
		t.Errorf("page shows %d packets received, want %d", got, packets+1)
	}
	if evicted := num("evicted") + num("forgotten"); held+evicted != packets+1 || held != num("held") {
		t.Errorf("page shows %d packets held (by slice) + %d evicted = %d, want %d received", held, evicted, held+evicted, packets+1)
	}
	t.Logf("held %d, evicted %d, forgotten %d, stream dropped %d", held, c.EvictedPackets, c.ForgottenPackets, c.StreamDropped)
}

var unsafeSizeofPacket = func() int { return int(unsafe.Sizeof(Packet{})) }()

package audit

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Row is one archived aggregate: the packets and bytes a slice sent to one
// destination address and port with one protocol in one minute, with the
// union of their TCP flags.
type Row struct {
	Minute   time.Time  `json:"minute"`
	Slice    string     `json:"slice"`
	Dst      netip.Addr `json:"dst"`
	Proto    uint8      `json:"proto"`
	DstPort  uint16     `json:"dport"`
	TCPFlags uint8      `json:"tcp_flags"`
	Packets  uint64     `json:"packets"`
	Bytes    uint64     `json:"bytes"`
}

// Archive is central's archive of the nodes' rows. Push stores a batch of
// one node's rows; a caller pushes a batch again only after an error.
// Central's archive knows a batch by its BatchID and counts it once; a
// MemArchive or FakeArchive may count it twice.
type Archive interface {
	Push(ctx context.Context, node string, rows []Row) error
}

// ErrUnavailable is the error of an archive that cannot be reached.
var ErrUnavailable = errors.New("archive unavailable")

// FakeArchive is an Archive in memory for tests, which can be made
// unreachable.
type FakeArchive struct {
	// mu guards the following.
	mu      sync.Mutex
	down    bool
	batches []FakeBatch
}

// FakeBatch is one batch a FakeArchive received.
type FakeBatch struct {
	Node string
	Rows []Row
}

// Push implements Archive.
func (f *FakeArchive) Push(ctx context.Context, node string, rows []Row) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return ErrUnavailable
	}
	f.batches = append(f.batches, FakeBatch{Node: node, Rows: append([]Row(nil), rows...)})
	return nil
}

// SetDown makes the archive unreachable (true) or reachable again.
func (f *FakeArchive) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// Batches returns the batches received so far.
func (f *FakeArchive) Batches() []FakeBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeBatch(nil), f.batches...)
}

// Rows returns every row received so far.
func (f *FakeArchive) Rows() []Row {
	var rows []Row
	for _, b := range f.Batches() {
		rows = append(rows, b.Rows...)
	}
	return rows
}

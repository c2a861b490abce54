package loadtest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// Load test parameters: senders (more than the CPUs, so both stay busy),
// how long they send, and the pause before the final marker, longer than
// the stream's batch timeout (100 ms) so the last batch is flushed.
const (
	loadSenders = 3
	loadFor     = 3 * time.Second
	markerPause = 500 * time.Millisecond
)

// TestLoad sends UDP as fast as this machine can from a slice's processes
// through the tagger, the stream and the auditor, and checks the
// auditor's invariant: the packets it keeps plus those it counts as lost
// are exactly those the slice sent (by the slice's nft counter), and its
// page shows those counts. With the stream's default socket buffer, and
// with a tiny one that makes the kernel drop records, so that the count
// of the kernel's drops is checked too.
func TestLoad(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name       string
		readBuffer int
	}{{"default-buffer", 0}, {"tiny-buffer", 16 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBedBuffer(t, audited, tc.readBuffer)
			b.flood(t)
			sent, c := b.mark(t)
			kernel := b.stream.KernelDropped()
			t.Logf("the auditor recorded %d, lost %d in the kernel, %d at its buffer and %d to its memory bound",
				c.Received, kernel, c.StreamDropped-kernel, c.EvictedPackets+c.ForgottenPackets)
			checkAccount(t, b.auditor, c, sent)
			if tc.readBuffer != 0 && kernel == 0 {
				t.Errorf("a %d-byte buffer made the kernel drop nothing: its count was not checked", tc.readBuffer)
			}
		})
	}
}

// flood sends from loadSenders processes of the slice for loadFor.
func (b *bed) flood(t *testing.T) {
	b.udpSink(t)
	start := time.Now()
	for i := range loadSenders {
		cmd := nettest.Start(t, b.pair, nettest.Send{UID: b.slice.UIDBase + uint32(i), To: b.udpTo(), For: loadFor, Payload: 32, Batch: udpBatch})
		defer func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("sender %d: %v", i, err)
			}
		}()
	}
	time.Sleep(loadFor)
	flood, elapsed := b.sent(t), time.Since(start)
	t.Logf("the slice sent %d packets in %v: %.0f packets/s", flood, elapsed.Round(time.Millisecond), float64(flood)/elapsed.Seconds())
}

// mark sends markers from the slice, after a pause, until the auditor has
// accounted for every packet the slice sent, and returns how many that
// is and the auditor's counters. Records the kernel dropped at the end of
// the flood show as a gap only once a later record arrives, and the first
// marker may be dropped too if the stream fell far behind; each marker
// shows the gaps before it. The test fails if markers keep coming for
// 15 s without the count matching.
func (b *bed) mark(t *testing.T) (sent uint64, c audit.Counters) {
	time.Sleep(markerPause)
	for i, end := 1, time.Now().Add(15*time.Second); ; i++ {
		b.sendAs(t, b.slice.UIDBase)
		sent = b.sent(t)
		c = settle(t, b.auditor, sent)
		if c.Received+c.StreamDropped >= sent || time.Now().After(end) {
			if i > 1 {
				t.Logf("%d markers were needed", i)
			}
			return sent, c
		}
	}
}

// checkAccount checks that the auditor's counters c and its page account
// for every packet sent.
func checkAccount(t *testing.T, a *audit.Auditor, c audit.Counters, sent uint64) {
	t.Helper()
	if got := c.Received + c.StreamDropped; got != sent {
		t.Errorf("recorded %d + dropped by the stream %d = %d, want the %d packets sent (off by %d)",
			c.Received, c.StreamDropped, got, sent, int64(got)-int64(sent))
	}
	page := pageCounts(t, a)
	if got := page["held"] + page["stream-dropped"] + page["evicted"] + page["forgotten"]; got != sent {
		t.Errorf("page: held %d + dropped %d + evicted %d + forgotten %d = %d, want the %d sent",
			page["held"], page["stream-dropped"], page["evicted"], page["forgotten"], got, sent)
	}
	if page["stream-dropped"] != c.StreamDropped || page["received"] != c.Received {
		t.Errorf("page shows %d received and %d dropped by the stream, the store counted %d and %d",
			page["received"], page["stream-dropped"], c.Received, c.StreamDropped)
	}
}

// settle waits until the auditor has accounted for want packets, or a
// second went by without progress, and returns its counters.
func settle(t *testing.T, a *audit.Auditor, want uint64) audit.Counters {
	t.Helper()
	last, idle := a.Store().Counters(), time.Now()
	for time.Since(idle) < time.Second {
		c := a.Store().Counters()
		if c.Received+c.StreamDropped >= want {
			return c
		}
		if c != last {
			last, idle = c, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// pageCounts fetches the auditor's summary page and returns the counts it
// shows, by element id.
func pageCounts(t *testing.T, a *audit.Auditor) map[string]uint64 {
	t.Helper()
	rec := httptest.NewRecorder()
	audit.NewHandler(a, audit.HandlerConfig{Node: "orbistest"}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	doc, err := html.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for _, at := range n.Attr {
			if at.Key == "id" && n.FirstChild != nil && n.FirstChild.Type == html.TextNode {
				digits := strings.ReplaceAll(strings.TrimSpace(n.FirstChild.Data), "\u2009", "")
				if v, err := strconv.ParseUint(digits, 10, 64); err == nil {
					out[at.Val] = v
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, id := range []string{"received", "held", "stream-dropped", "evicted", "forgotten"} {
		if _, ok := out[id]; !ok {
			t.Fatalf("the page shows no count %q", id)
		}
	}
	return out
}

package sensor

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// openStream GETs a stream on a connection of its own and returns its
// body's reader, after checking the header line; close ends it.
func openStream(t *testing.T, url, header string) (r *bufio.Reader, close func()) {
	t.Helper()
	tr := &http.Transport{}
	res, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	close = func() { res.Body.Close(); tr.CloseIdleConnections() }
	r = bufio.NewReader(res.Body)
	if line := readLine(t, r); line != header {
		close()
		t.Fatalf("header line %q, want %q", line, header)
	}
	return r, close
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read stream: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func connectEvent(i int) ConnectEvent {
	return ConnectEvent{Time: time.Now(), Slice: "princeton_codeen", Proto: "tcp",
		Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+i)), Dst: netip.MustParseAddrPort("192.0.2.1:80")}
}

// TestStreamDeliversAsItHappens pushes connect calls one at a time: the
// client sees each at once; when it goes, the server's goroutines are
// back to what they were.
func TestStreamDeliversAsItHappens(t *testing.T) {
	ev := &FakeEvents{}
	s, base := startServer(t, Config{Connects: ev, WriteTimeout: 200 * time.Millisecond})
	waitFor(t, "the subscription", func() bool { return ev.Subscribers() == 1 })
	baseline := runtime.NumGoroutine()
	r, closeStream := openStream(t, base+"/connects-stream", join(connectsSchema))
	var worst time.Duration
	for i := range 5 {
		if i == 4 {
			time.Sleep(400 * time.Millisecond) // idle longer than the write timeout
		}
		start := time.Now()
		ev.Push(connectEvent(i))
		row := strings.Split(readLine(t, r), ",")
		worst = max(worst, time.Since(start))
		checkRow(t, row, []string{`^[0-9]+\.[0-9]{3}$`, `^princeton_codeen$`, `^tcp$`, `^10\.0\.0\.1$`, fmt.Sprintf("^%d$", 40000+i), `^192\.0\.2\.1$`, `^80$`})
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("slowest tuple: %v", worst)
	if worst > 300*time.Millisecond {
		t.Errorf("a tuple took %v to arrive", worst)
	}
	closeStream()
	waitFor(t, "the stream's slot back", func() bool { return s.streams.count() == 0 })
	waitFor(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestBandwidthStream(t *testing.T) {
	s, base := startServer(t, Config{Slices: growingSlices(), SampleInterval: 50 * time.Millisecond})
	waitFor(t, "two samples", func() bool { _, seq := s.hist.wait(); return seq >= 2 })
	r, closeStream := openStream(t, base+"/bandwidth-stream/princeton_codeen", join(bwStreamSchema))
	defer closeStream()
	var last string
	for range 3 {
		row := strings.Split(readLine(t, r), ",")
		// 1000 bytes a sample every 50 ms: 160 kbit/s, give or take the
		// ticker's jitter.
		checkRow(t, row, []string{`^[0-9]+\.[0-9]{3}$`, `^princeton_codeen$`, `^[0-9]+\.[0-9]{2}$`, `^[0-9]+\.[0-9]{2}$`})
		if row[0] <= last {
			t.Errorf("time %s after %s", row[0], last)
		}
		last = row[0]
	}
}

// TestStreamLimit opens as many streams as allowed: one more gets 503,
// and a slot freed is usable again.
func TestStreamLimit(t *testing.T) {
	ev := &FakeEvents{}
	s, base := startServer(t, Config{Connects: ev})
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range DefaultMaxStreams {
		_, c := openStream(t, base+"/connects-stream", join(connectsSchema))
		closers = append(closers, c)
	}
	if n := s.streams.count(); n != DefaultMaxStreams {
		t.Fatalf("%d streams served, want %d", n, DefaultMaxStreams)
	}
	res, body := get(t, "GET", base+"/connects-stream")
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many streams") {
		t.Fatalf("stream %d: %d %q", DefaultMaxStreams+1, res.StatusCode, body)
	}
	if res, _ := get(t, "GET", base+"/load"); res.StatusCode != 200 {
		t.Errorf("snapshot while streams are full: %d", res.StatusCode)
	}
	closers[0]()
	closers = closers[1:]
	waitFor(t, "a free slot", func() bool { return s.streams.count() < DefaultMaxStreams })
	_, c := openStream(t, base+"/connects-stream", join(connectsSchema))
	closers = append(closers, c)
}

// TestSlowClientDropped: a stream client that stops reading is dropped
// once a write blocks longer than the write timeout, and the source never
// waits for it.
func TestSlowClientDropped(t *testing.T) {
	ev := &FakeEvents{}
	s, base := startServer(t, Config{Connects: ev, WriteTimeout: 200 * time.Millisecond})
	waitFor(t, "the subscription", func() bool { return ev.Subscribers() == 1 })
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /connects-stream HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the stream", func() bool { return s.streams.count() == 1 })
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; s.streams.count() > 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("a client that reads nothing still holds its stream")
		}
		for j := range 200 {
			ev.Push(connectEvent(i*200 + j))
		}
		time.Sleep(time.Millisecond)
	}
}

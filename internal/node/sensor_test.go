package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/cgroup"
)

// TestStartSensors checks the sensor server's wiring: it serves the
// slivers of both cgroup managers (not the fair group itself), refuses an
// address in use, and is off for an empty address.
func TestStartSensors(t *testing.T) {
	top, fair := cgroup.NewFake(), cgroup.NewFake()
	for _, c := range []struct {
		m    *cgroup.Fake
		name string
	}{{top, "fair"}, {top, "guaranteed"}, {fair, "best_effort"}} {
		if err := c.m.Set(c.name, cgroup.Resources{}); err != nil {
			t.Fatal(err)
		}
		c.m.SetStats(c.name, cgroup.Stats{Pids: 2, MemoryCurrent: 4096})
	}
	n := &Node{cfg: Config{StateDir: t.TempDir(), Log: testLog()}, cgroups: []cgroup.Manager{top, fair}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addr().String()
	if _, err := n.startSensors(ctx, addr); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("address in use: %v", err)
	}
	busy.Close()
	stop, err := n.startSensors(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	want := map[string]string{
		"/slices":        "best_effort,0.00,0.00,0.00,4096,2,",
		"/nodes/ip/name": "this node follows no central",
		"/ports":         "not available on this node",
	}
	for path, w := range want {
		var body string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			res, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if body = string(b); strings.Contains(body, w) {
				break
			}
		}
		if !strings.Contains(body, w) || path == "/slices" && (strings.Contains(body, "\nfair,") || !strings.Contains(body, "\nguaranteed,")) {
			t.Errorf("GET %s: %q, want %q", path, body, w)
		}
	}
	stop()
	if _, err := http.Get("http://" + addr + "/load"); err == nil {
		t.Error("sensor server still up after stop")
	}
	if stop, err := n.startSensors(ctx, ""); err != nil {
		t.Errorf("disabled: %v", err)
	} else {
		stop()
	}
}

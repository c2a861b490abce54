package testbed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestSSHOutputIsTheSlices sends a slice's output through the SSH gateway
// (`ssh slice@node 'head -c N /dev/zero'`, the attack that once ran at the
// uplink's full speed as the node's own traffic) and checks that it is
// the slice's: it arrives at the slice's net_max_rate of 1 Mbit/s over
// the node's shaped uplink, the slice's tx counter (which the daily byte
// cap reads) counts it, and the node's traffic auditor names the slice
// for the client's address.
func TestSSHOutputIsTheSlices(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	p := newPLC(t, st)
	key := newUser(t, p, "sshnet@orbis.test")
	slice := testbed.Site + "_sshnet"
	newSlice(p, slice, "sshnet@orbis.test")
	p.call("AddSliceTag", slice, "net_max_rate", "1000")
	p.call("AddSliceToNodes", slice, []any{n.Hostname})
	waitRunning(t, p, slice, 1)
	ssh(t, key, slice, n, "true") // the sliver started

	tx0, rx0 := sliceCounters(t, n, slice)
	const size = 800_000 // 6.4 s at 1 Mbit/s
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := sshCmd(ctx, key, slice, n, "head -c "+strconv.Itoa(size)+" /dev/zero")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got, kbps := readRate(out, time.Second)
	if err := cmd.Wait(); err != nil || got != size {
		t.Fatalf("ssh head -c %d: %d bytes, %v", size, got, err)
	}
	t.Logf("ssh output of %s with net_max_rate=1000: %.0f kbit/s of payload at the client", slice, kbps)
	// The payload is about 95% of what HTB counts (TCP/IP and Ethernet
	// headers, SSH framing).
	if kbps > 1100 || kbps < 500 {
		t.Errorf("ssh output at %.0f kbit/s, want the slice's 1000 kbit/s (less headers)", kbps)
	}

	// The sensor samples the counters every few seconds.
	var tx1, rx1 uint64
	waitFor(t, "the slice's counters to count the output", 15*time.Second, func() bool {
		tx1, rx1 = sliceCounters(t, n, slice)
		return tx1-tx0 >= size
	})
	t.Logf("slice %s's counters: tx %d → %d bytes, rx %d → %d", slice, tx0, tx1, rx0, rx1)
	if tx1-tx0 < size || tx1-tx0 > 2*size {
		t.Errorf("slice's tx counter grew by %d bytes for %d bytes of ssh output", tx1-tx0, size)
	}
	if rx1 == rx0 {
		t.Error("slice's rx counter did not count the client's side of the connection")
	}
	waitFor(t, "the auditor naming the slice for the client's address", 15*time.Second, func() bool {
		return strings.Contains(fetch(n.AuditURL+"dst/"+st.HostAddr), slice)
	})
}

// readRate reads r to its end and returns the bytes read and the rate,
// in kbit/s, from the first read after skip to the last: the bytes read
// after the one over the time between them.
func readRate(r io.Reader, skip time.Duration) (int, float64) {
	buf := make([]byte, 64<<10)
	var first, from, last time.Time
	total, fromBytes := 0, 0
	for {
		k, err := r.Read(buf)
		now := time.Now()
		if k > 0 {
			switch {
			case first.IsZero():
				first = now
			case from.IsZero() && now.After(first.Add(skip)):
				from, fromBytes = now, total+k // what came before from
			}
			total += k
			last = now
		}
		if err != nil {
			break
		}
	}
	if from.IsZero() || !last.After(from) {
		return total, math.Inf(1) // all of it within skip: unshaped
	}
	return total, float64(total-fromBytes) * 8 / last.Sub(from).Seconds() / 1000
}

// sliceCounters reads the slice's byte counters as a user would: from
// the node's sensor server (/bandwidth/SLICE: slice,tx_kbps,rx_kbps,
// tx_bytes,rx_bytes), which serves the tagger's counters on 127.0.0.1 in
// the node's namespace, once it has sampled the slice.
func sliceCounters(t *testing.T, n testbed.Node, slice string) (tx, rx uint64) {
	t.Helper()
	var out []byte
	waitFor(t, "the sensor to sample "+slice, 15*time.Second, func() bool {
		out = sensorBandwidth(t, n, slice)
		return out != nil
	})
	lines := strings.Split(strings.TrimSpace(string(out)), "\n") // a header, then the slice's row
	f := strings.Split(lines[len(lines)-1], ",")
	var err1, err2 error
	if len(f) == 5 && f[0] == slice {
		tx, err1 = strconv.ParseUint(f[3], 10, 64)
		rx, err2 = strconv.ParseUint(f[4], 10, 64)
	}
	if len(f) != 5 || f[0] != slice || err1 != nil || err2 != nil {
		t.Fatalf("sensor /bandwidth/%s: %q", slice, out)
	}
	return tx, rx
}

// sensorBandwidth is the body of the node's /bandwidth/SLICE, or nil
// while the sensor has no sample of the slice (404).
func sensorBandwidth(t *testing.T, n testbed.Node, slice string) []byte {
	t.Helper()
	var c net.Conn
	err := nettest.InNS(n.Netns, func() (err error) {
		c, err = net.DialTimeout("tcp", "127.0.0.1:33080", 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("sensor /bandwidth/%s: %v", slice, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /bandwidth/%s HTTP/1.0\r\nHost: sensor\r\n\r\n", slice)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("sensor /bandwidth/%s: %v", slice, err)
	}
	out, err := io.ReadAll(res.Body)
	switch {
	case err == nil && res.StatusCode == http.StatusNotFound:
		return nil
	case err != nil || res.StatusCode != http.StatusOK:
		t.Fatalf("sensor /bandwidth/%s: %s, %v: %s", slice, res.Status, err, out)
	}
	return out
}

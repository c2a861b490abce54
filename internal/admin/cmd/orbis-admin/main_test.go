package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/testutil"
)

// service runs a real admin service on a socket of a temporary directory
// and returns the socket; the test process, root, calls it as host root.
// applied is what the node's shaper reports; policy bounds the cap.
func service(t *testing.T, applied *atomic.Int64, policy int64) string {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	svc, err := admin.New(admin.Config{
		Authorize:  func(uint32) (string, bool) { return "", false },
		StateDir:   filepath.Join(dir, "state"),
		AppliedCap: applied.Load,
		CapChanged: applied.Store, // the node applies it at once
		PolicyCap:  func() (int64, bool) { return policy, policy > 0 },
		Log:        testutil.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "share", admin.SocketName)
	l, err := admin.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sock
}

// runAdmin runs orbis-admin's command line in process.
func runAdmin(t *testing.T, sock string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(testutil.Context(t), append([]string{"--socket", sock}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBwcap(t *testing.T) {
	testutil.RequireRoot(t)
	var applied atomic.Int64
	applied.Store(100000)
	sock := service(t, &applied, 50000)
	if code, out, errs := runAdmin(t, sock, "bwcap"); code != 0 || out != "100mbit (default; none set), applied; the local policy allows at most 50mbit\n" {
		t.Errorf("bwcap = %d %q %q", code, out, errs)
	}
	if code, out, errs := runAdmin(t, sock, "bwcap", "10mbit"); code != 0 || out != "10mbit, applied; the local policy allows at most 50mbit\n" {
		t.Errorf("bwcap 10mbit = %d %q %q", code, out, errs)
	}
	if code, _, errs := runAdmin(t, sock, "bwcap", "80mbit"); code != 1 || !strings.Contains(errs, "above the node's local policy cap of 50mbit") {
		t.Errorf("bwcap over the policy = %d %q", code, errs)
	}
	if code, _, errs := runAdmin(t, sock, "bwcap", "fast"); code != 1 || !strings.Contains(errs, "want a unit") {
		t.Errorf("bwcap fast = %d %q", code, errs)
	}
	if code, _, errs := runAdmin(t, sock, "bwcap", "1mbit", "2mbit"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Errorf("bwcap with two rates = %d %q", code, errs)
	}
	applied.Store(0)
	if _, out, _ := runAdmin(t, sock, "bwcap"); out != "10mbit, not applied: this node shapes no uplink; the local policy allows at most 50mbit\n" {
		t.Errorf("bwcap on a node that shapes nothing = %q", out)
	}
}

func TestPSAndKill(t *testing.T) {
	testutil.RequireRoot(t)
	var applied atomic.Int64
	sock := service(t, &applied, 0)
	code, out, errs := runAdmin(t, sock, "ps", "--json")
	var l api.AdminPS
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil {
		t.Fatalf("ps --json = %d %q %q", code, out, errs)
	}
	if code, out, _ := runAdmin(t, sock, "ps"); code != 0 || !strings.HasPrefix(out, "PID") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "COMMAND") {
		t.Errorf("ps = %d %q, want a table with its header", code, out)
	}
	host := exec.Command("sleep", "1000")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { host.Wait(); close(exited) }()
	t.Cleanup(func() { host.Process.Kill(); <-exited })
	pid := strconv.Itoa(host.Process.Pid)
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"kill", "1"}, "the node's init: refused"},
		{[]string{"kill", strconv.Itoa(os.Getpid())}, "the node agent: refused"},
		{[]string{"kill", "--start", "1", pid, "KILL"}, "is now another process"},
		{[]string{"kill", pid, "NOSUCH"}, "unknown"},
	}
	for _, c := range refused {
		if code, _, errs := runAdmin(t, sock, c.args...); code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("orbis-admin %q = %d %q, want a refusal saying %q", c.args, code, errs, c.want)
		}
	}
	select {
	case <-exited:
		t.Fatal("a refused kill killed the process")
	case <-time.After(100 * time.Millisecond):
	}
	// Host root may signal any process (it is root on the host anyway).
	if code, out, errs := runAdmin(t, sock, "kill", pid, "KILL"); code != 0 || out != "sent SIGKILL to pid "+pid+" (sleep 1000, of the host)\n" {
		t.Errorf("kill = %d %q %q", code, out, errs)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("the process was not killed")
	}
	for _, args := range [][]string{{"kill"}, {"kill", "x"}, {"kill", "1", "TERM", "extra"}, {"ps", "extra"}, {"nosuch"}, {}} {
		if code, _, errs := runAdmin(t, sock, args...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("orbis-admin %q = %d %q, want usage and status 2", args, code, errs)
		}
	}
}

func TestWatchRefusedWithoutStream(t *testing.T) {
	testutil.RequireRoot(t)
	var applied atomic.Int64
	sock := service(t, &applied, 0)
	if code, _, errs := runAdmin(t, sock, "watch", "-c", "1"); code != 1 || errs == "" {
		t.Errorf("watch on a node without a sniffer stream = %d %q, want a refusal", code, errs)
	}
}

// TestNoService: outside an admin sliver there is no socket, and the tool
// says so.
func TestNoService(t *testing.T) {
	code, _, errs := runAdmin(t, filepath.Join(t.TempDir(), "admin.sock"), "ps")
	if code != 1 || !strings.Contains(errs, "no admin service here") {
		t.Errorf("ps without a service = %d %q", code, errs)
	}
}

func TestFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "00:00", 75 * time.Second: "01:15", 3725 * time.Second: "1:02:05"} {
		if got := cpuTime(d); got != want {
			t.Errorf("cpuTime(%v) = %q, want %q", d, got, want)
		}
	}
	for b, want := range map[int64]string{0: "0K", 4096: "4K", 9 << 20: "9216K", 10 << 20: "10M", 12 << 30: "12G"} {
		if got := size(b); got != want {
			t.Errorf("size(%d) = %q, want %q", b, got, want)
		}
	}
	if got := truncate("evil\nPID 1 forged\x1b[2J", 80); strings.ContainsAny(got, "\n\x1b") {
		t.Errorf("truncate let a control character through: %q", got)
	}
	if got := truncate("abcdef", 4); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
	for f, want := range map[uint8]string{0: "none", 0x02: "S", 0x12: "S.", 0x11: "F.", 0x18: "P.", 0x04: "R"} {
		if got := tcpFlags(f); got != want {
			t.Errorf("tcpFlags(%#x) = %q, want %q", f, got, want)
		}
	}
}

func TestTextWriter(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.Local)
	tw := textWriter{w}
	tw.write(&api.AdminPacket{Time: at, Slice: "pl_a", Src: "10.0.0.1", Dst: "10.0.0.2", SrcPort: 4321, DstPort: 80, Proto: 6, Flags: 0x02, Len: 60})
	tw.write(&api.AdminPacket{Time: at, Src: "fd00::1", Dst: "fd00::2", Proto: 58, Len: 104})
	w.Flush()
	want := "03:04:05.000006 pl_a 10.0.0.1.4321 > 10.0.0.2.80: tcp [S] length 60\n" +
		"03:04:05.000006 - fd00::1 > fd00::2: icmp6 length 104\n"
	if b.String() != want {
		t.Errorf("text =\n%s\nwant\n%s", b.String(), want)
	}
}

// TestPcap: the pcap stream has tcpdump's header, and each record an IP
// header with a valid checksum and the packet's addresses and ports.
func TestPcap(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	pw, err := newPcapWriter(w)
	if err != nil {
		t.Fatal(err)
	}
	pw.write(&api.AdminPacket{Time: time.Unix(1000, 5000), Src: "10.0.0.1", Dst: "10.0.0.2", SrcPort: 4321, DstPort: 53, Proto: 17, Len: 80})
	pw.write(&api.AdminPacket{Src: "not an address", Dst: "10.0.0.2", Proto: 6}) // skipped
	w.Flush()
	data := b.Bytes()
	if len(data) != 24+16+28 {
		t.Fatalf("%d bytes, want a header and one record of 28", len(data))
	}
	if binary.LittleEndian.Uint32(data) != rawsock.PcapMagic || binary.LittleEndian.Uint32(data[20:]) != rawsock.LinkTypeRaw {
		t.Errorf("pcap header % x", data[:24])
	}
	rec, ip := data[24:40], data[40:]
	if binary.LittleEndian.Uint32(rec) != 1000 || binary.LittleEndian.Uint32(rec[4:]) != 5 || binary.LittleEndian.Uint32(rec[12:]) != 80 {
		t.Errorf("record header % x: want time 1000.000005, original length 80", rec)
	}
	if checksum(ip[:20]) != 0 {
		t.Error("the IPv4 header's checksum does not check")
	}
	if ip[9] != 17 || binary.BigEndian.Uint16(ip[20:]) != 4321 || binary.BigEndian.Uint16(ip[22:]) != 53 || binary.BigEndian.Uint16(ip[24:]) != 60 {
		t.Errorf("headers % x: want UDP 4321 > 53, UDP length 60", ip)
	}
}

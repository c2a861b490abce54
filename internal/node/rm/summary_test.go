package rm

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestSummaryReadsProc: the summary reads load, memory and traffic rates
// (loopback left out) from the proc root, and the state directory's disk.
func TestSummaryReadsProc(t *testing.T) {
	proc := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(proc, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const head = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	netdevAt := func(eth, lo uint64) string {
		return head + "    lo: " + itoa(lo) + " 1 0 0 0 0 0 0 " + itoa(lo) + " 1 0 0 0 0 0 0\n" +
			"  eth0: " + itoa(eth) + " 1 0 0 0 0 0 0 " + itoa(2*eth) + " 1 0 0 0 0 0 0\n"
	}
	write("loadavg", "1.25 0.50 0.10 2/300 4000\n")
	write("meminfo", "MemTotal:       8000 kB\nMemFree:        1000 kB\nMemAvailable:   3000 kB\nHugePages_Total: 0\n")
	write("net/dev", netdevAt(1000, 5))
	z := &summarizer{procRoot: proc, dir: t.TempDir(), version: "v9"}
	t0 := time.Unix(1000, 0)
	s := z.summary(t0)
	if s.Load != 1.25 || s.MemTotal != 8000*1024 || s.FreeMem != 3000*1024 || s.AgentVersion != "v9" {
		t.Errorf("summary = %+v", s)
	}
	if s.DiskTotal <= 0 || s.FreeDisk <= 0 || s.FreeDisk > s.DiskTotal {
		t.Errorf("disk %d free of %d", s.FreeDisk, s.DiskTotal)
	}
	if s.BwIn != 0 || s.BwOut != 0 {
		t.Errorf("first summary has rates %d/%d, want none", s.BwIn, s.BwOut)
	}
	write("net/dev", netdevAt(11000, 1<<40))
	s = z.summary(t0.Add(10 * time.Second))
	if s.BwIn != 1000 || s.BwOut != 2000 {
		t.Errorf("rates %d in, %d out; want 1000, 2000 (loopback left out)", s.BwIn, s.BwOut)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

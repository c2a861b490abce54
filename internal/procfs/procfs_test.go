package procfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	mem, err := ParseMeminfo([]byte("MemTotal:       8000 kB\nMemAvailable:   3000 kB\nHugePages_Total: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != 2 || MemBytes(mem, "MemTotal") != 8000*1024 || MemBytes(mem, "MemAvailable") != 3000*1024 || MemBytes(mem, "Nope") != 0 {
		t.Errorf("meminfo = %+v", mem)
	}
	for _, bad := range []string{"", "HugePages_Total: 0\n", "MemTotal: lots kB\n"} {
		if _, err := ParseMeminfo([]byte(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) took it", bad)
		}
	}
}

func TestParseLoadUptimeCPUs(t *testing.T) {
	l, err := ParseLoadavg([]byte("1.25 0.50 0.10 2/300 4000\n"))
	if err != nil || l != [3]string{"1.25", "0.50", "0.10"} {
		t.Errorf("ParseLoadavg = %v, %v", l, err)
	}
	if _, err := ParseLoadavg([]byte("1.25 x 0.1")); err == nil {
		t.Error("ParseLoadavg took a bad number")
	}
	if u, err := ParseUptime([]byte("123.45 67.8\n")); err != nil || u != "123.45" {
		t.Errorf("ParseUptime = %q, %v", u, err)
	}
	if n, err := ParseCPUs([]byte("cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\nintr 5\n")); err != nil || n != 2 {
		t.Errorf("ParseCPUs = %d, %v", n, err)
	}
}

func TestParseNetDev(t *testing.T) {
	const head = "Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes\n"
	rx, tx, err := ParseNetDev([]byte(head +
		"    lo: 500 1 0 0 0 0 0 0 500 1 0 0 0 0 0 0\n" +
		"  eth0: 1000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n" +
		"  eth1: 1 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n"))
	if err != nil || rx != 1001 || tx != 2002 {
		t.Errorf("ParseNetDev = %d, %d, %v (want loopback left out)", rx, tx, err)
	}
	if _, _, err := ParseNetDev([]byte(head + "  eth0: x 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0\n")); err == nil {
		t.Error("ParseNetDev took a bad counter")
	}
}

// TestReadBounded: Read stops at MaxFile.
func TestReadBounded(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "big"), []byte(strings.Repeat("x", MaxFile+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := Read(root, "big")
	if err != nil || len(data) != MaxFile {
		t.Errorf("Read = %d bytes, %v; want %d", len(data), err, MaxFile)
	}
	if _, err := Read(root, "missing"); err == nil {
		t.Error("Read of a missing file succeeded")
	}
}

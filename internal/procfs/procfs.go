// Package procfs reads and parses the node-wide files of /proc that more
// than one part of the node reports: memory, load, uptime, CPUs and
// interface traffic. The sensors serve them and the node's summary to
// central sends them, read by this one code.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxFile bounds what is read of one /proc file.
const MaxFile = 1 << 20

// Read reads the file name under the /proc root, at most MaxFile bytes.
func Read(root, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(root, name))
	if err != nil {
		return nil, fmt.Errorf("read proc: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile))
	if err != nil {
		return nil, fmt.Errorf("read proc %s: %w", name, err)
	}
	return data, nil
}

// A MemField is one line of /proc/meminfo counted in kB.
type MemField struct {
	Name string
	KB   uint64
}

// ParseMeminfo returns /proc/meminfo's lines counted in kB, in the file's
// order; lines not counted in kB (HugePages_Total) are left out.
func ParseMeminfo(data []byte) ([]MemField, error) {
	var out []MemField
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(rest)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("meminfo %s: %w", name, err)
		}
		out = append(out, MemField{name, kb})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("meminfo: no line counted in kB")
	}
	return out, nil
}

// MemBytes returns field name of fields in bytes, or 0 if it is missing.
func MemBytes(fields []MemField, name string) int64 {
	for _, f := range fields {
		if f.Name == name {
			return int64(f.KB) * 1024
		}
	}
	return 0
}

// ParseLoadavg returns the 1, 5 and 15 minute load averages of
// /proc/loadavg, as the kernel writes them.
func ParseLoadavg(data []byte) ([3]string, error) {
	var out [3]string
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return out, fmt.Errorf("loadavg %q: too short", data)
	}
	for i := range out {
		if _, err := strconv.ParseFloat(f[i], 64); err != nil {
			return out, fmt.Errorf("loadavg: %w", err)
		}
		out[i] = f[i]
	}
	return out, nil
}

// ParseUptime returns the uptime in seconds of /proc/uptime.
func ParseUptime(data []byte) (string, error) {
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return "", fmt.Errorf("uptime %q: empty", data)
	}
	if _, err := strconv.ParseFloat(f[0], 64); err != nil {
		return "", fmt.Errorf("uptime: %w", err)
	}
	return f[0], nil
}

// ParseCPUs counts the "cpuN" lines of /proc/stat: the CPUs online.
func ParseCPUs(data []byte) (int, error) {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), " ")
		if rest, ok := strings.CutPrefix(name, "cpu"); ok && rest != "" {
			if _, err := strconv.Atoi(rest); err == nil {
				n++
			}
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("stat: no cpu line")
	}
	return n, nil
}

// ParseNetDev sums the received and sent bytes of /proc/net/dev's
// interfaces but loopback.
func ParseNetDev(data []byte) (rx, tx uint64, err error) {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 {
		return 0, 0, fmt.Errorf("net/dev: too short")
	}
	for _, line := range lines[2:] {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 9 || strings.TrimSpace(name) == "lo" {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("net/dev %s: bad counters", strings.TrimSpace(name))
		}
		rx, tx = rx+r, tx+t
	}
	return rx, tx, nil
}

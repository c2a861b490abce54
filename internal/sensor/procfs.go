package sensor

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

// maxProcFile bounds what is read of one /proc file.
const maxProcFile = 1 << 20

// readProc reads the file name under the /proc root.
func readProc(root, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(root, name))
	if err != nil {
		return nil, fmt.Errorf("read proc: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProcFile))
	if err != nil {
		return nil, fmt.Errorf("read proc %s: %w", name, err)
	}
	return data, nil
}

// parseMeminfo turns /proc/meminfo into name,kB rows, in the file's order;
// lines not counted in kB (HugePages_Total) are left out.
func parseMeminfo(data []byte) ([][]string, error) {
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(rest)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
			return nil, fmt.Errorf("meminfo %s: %w", name, err)
		}
		rows = append(rows, []string{name, f[0]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("meminfo: no line counted in kB")
	}
	return rows, nil
}

// parseLoadavg returns the 1, 5 and 15 minute load averages of
// /proc/loadavg, as the kernel writes them.
func parseLoadavg(data []byte) ([3]string, error) {
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

// parseUptime returns the uptime in seconds of /proc/uptime.
func parseUptime(data []byte) (string, error) {
	f := strings.Fields(string(data))
	if len(f) < 1 {
		return "", fmt.Errorf("uptime %q: empty", data)
	}
	if _, err := strconv.ParseFloat(f[0], 64); err != nil {
		return "", fmt.Errorf("uptime: %w", err)
	}
	return f[0], nil
}

// parseCPUs counts the "cpuN" lines of /proc/stat: the CPUs online.
func parseCPUs(data []byte) (int, error) {
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

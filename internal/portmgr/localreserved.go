package portmgr

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The kernel's ip_local_reserved_ports sysctl lists the ports that it
// never picks as ephemeral ones (for a connect, a send or a bind to port
// 0 of an unbound socket) and that an explicit bind still may take:
// comma-separated ports and lo-hi ranges, per network namespace.

// parsePortList parses an ip_local_reserved_ports value.
func parsePortList(s string) (map[uint16]bool, error) {
	set := map[uint16]bool{}
	for _, f := range strings.Split(strings.TrimSpace(s), ",") {
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || l > h {
			return nil, fmt.Errorf("reserved ports %q: bad entry %q", s, f)
		}
		for p := l; p <= h; p++ {
			set[uint16(p)] = true
		}
	}
	return set, nil
}

// formatPortList writes set as an ip_local_reserved_ports value:
// ascending, runs as ranges.
func formatPortList(set map[uint16]bool) string {
	ports := make([]int, 0, len(set))
	for p := range set {
		ports = append(ports, int(p))
	}
	slices.Sort(ports)
	var parts []string
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		part := strconv.Itoa(ports[i])
		if j > i {
			part += "-" + strconv.Itoa(ports[j])
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// editPortList applies edit to the port list in the file at path and
// writes it back when edit reports a change.
func editPortList(path string, edit func(set map[uint16]bool) bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read reserved ports: %w", err)
	}
	set, err := parsePortList(string(b))
	if err != nil {
		return err
	}
	if !edit(set) {
		return nil
	}
	if err := os.WriteFile(path, []byte(formatPortList(set)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write reserved ports: %w", err)
	}
	return nil
}

// addLocalReserved lists port in the file at path; added is false when
// it was listed already (by the operator, say), and so is not this
// caller's to take out.
func addLocalReserved(path string, port uint16) (added bool, err error) {
	err = editPortList(path, func(set map[uint16]bool) bool {
		added = !set[port]
		set[port] = true
		return added
	})
	return added, err
}

// RemoveLocalReserved takes ports out of the list in the file at path
// (LocalReservedPorts by default): what tests and sweeps use to undo what
// a node agent killed before Detach listed.
func RemoveLocalReserved(path string, ports ...uint16) error {
	if len(ports) == 0 {
		return nil
	}
	return editPortList(path, func(set map[uint16]bool) bool {
		n := len(set)
		for _, p := range ports {
			delete(set, p)
		}
		return len(set) != n
	})
}

package rawfd

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// BoundPorts lists the local TCP and UDP ports of the sockets owned by
// UIDs in [base, base+count), in the calling thread's network namespace:
// the candidates for the ports a slice holds, which the port manager's
// rule then confirms or not (Config.Ports).
func BoundPorts(base, count uint32) ([]Port, error) {
	seen := map[Port]bool{}
	var out []Port
	for _, t := range []struct {
		file  string
		proto uint8
	}{{"tcp", 6}, {"tcp6", 6}, {"udp", 17}, {"udp6", 17}} {
		f, err := os.Open("/proc/thread-self/net/" + t.file)
		if err != nil {
			return nil, fmt.Errorf("socket table: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 8 {
				continue
			}
			uid, err := strconv.ParseUint(fl[7], 10, 32)
			_, portHex, ok := strings.Cut(fl[1], ":")
			port, perr := strconv.ParseUint(portHex, 16, 16)
			if err != nil || !ok || perr != nil || uid < uint64(base) || uid >= uint64(base)+uint64(count) {
				continue
			}
			if p := (Port{t.proto, uint16(port)}); !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		f.Close()
	}
	return out, nil
}

package rawfd

import (
	"fmt"

	"github.com/orbisproject/orbis/internal/portmgr"
)

// BoundPorts lists the ports of the TCP listeners and UDP sockets owned
// by UIDs in [base, base+count), in the calling thread's network
// namespace: the ports a slice's own sockets hold for themselves, which
// the port manager's rule then confirms or not (Config.Ports). It asks
// the kernel for listeners only (portmgr.BoundBy), which is cheap enough
// for every raw socket() call.
func BoundPorts(base, count uint32) ([]Port, error) {
	if count == 0 {
		return nil, nil
	}
	bound, err := portmgr.BoundBy(base, base+count-1)
	if err != nil {
		return nil, fmt.Errorf("bound ports: %w", err)
	}
	out := make([]Port, 0, len(bound))
	for _, p := range bound {
		switch p.Proto {
		case "tcp":
			out = append(out, Port{6, p.Port})
		case "udp":
			out = append(out, Port{17, p.Port})
		}
	}
	return out, nil
}

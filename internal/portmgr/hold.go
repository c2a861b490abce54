package portmgr

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/orbisproject/orbis/api"
)

// Hold is where one slice holds a TCP or UDP port alone: what a safe raw
// socket or a sniffer of its may be bound to (internal/rawsock).
type Hold struct {
	// All: the port is the slice's on every address of the node, because
	// it is reserved for the slice or a socket of the slice is bound to
	// the wildcard address.
	All bool
	// Addrs are, when not All, the local addresses the slice's sockets
	// hold the port on (loopback ones included).
	Addrs []netip.Addr
}

// Revoke ends the socket a claim was made for, told why: the port manager
// calls it when a reservation takes the port (Manager.Reserve), and it
// returns once the socket is closed and its capture and drop rule are
// gone. It is called with no lock of the Manager held, and must not
// block for long: Reserve waits for it.
type Revoke func(reason string)

// NotHeldError is the error of HoldOf and Manager.Hold saying why a slice
// does not hold a port alone; its text may be shown to the slice.
type NotHeldError struct{ Reason string }

func (e *NotHeldError) Error() string { return e.Reason }

func notHeld(format string, args ...any) error {
	return &NotHeldError{Reason: fmt.Sprintf(format, args...)}
}

// Holders is one reading of who holds which TCP and UDP port: the socket
// tables of a network namespace and the reservations, at one moment, so
// that many questions cost one reading.
type Holders struct {
	socks    map[string][]procSock // by protocol
	reserved map[api.Port]string   // port -> the slice it is reserved for
	resolve  func(uint32) (string, bool)
}

// ReadHolders reads the socket tables under procRoot (of the reader's
// network namespace); reserved are the reservations (port -> slice) and
// resolve attributes a socket's UID to its slice.
func ReadHolders(procRoot string, resolve func(uint32) (string, bool), reserved map[api.Port]string) (*Holders, error) {
	h := &Holders{socks: map[string][]procSock{}, reserved: reserved, resolve: resolve}
	for _, f := range procNetFiles {
		s, err := readProcNet(filepath.Join(procRoot, "net", f.file))
		if err != nil {
			return nil, err
		}
		h.socks[f.proto] = append(h.socks[f.proto], s...)
	}
	return h, nil
}

// Hold is where slice holds proto/port ("tcp" or "udp") alone. The slice
// holds it when it is reserved for it, or one of its sockets is bound to
// it (a TCP listener or unconnected bound socket, or a UDP socket), and
// no socket of anyone else uses the port on any address: not another
// slice's, nor the node's own (its connections' ephemeral ports
// included). TCP sockets in TIME_WAIT, which belong to no one, are left
// out. A *NotHeldError says why the slice does not hold it.
func (h *Holders) Hold(slice, proto string, port uint16) (Hold, error) {
	by := h.reserved[api.Port{Proto: proto, Port: port}]
	if by != "" && by != slice {
		return Hold{}, notHeld("%s port %d is reserved for another slice", proto, port)
	}
	return holdOf(h.socks[proto], h.resolve, by == slice, slice, proto, port)
}

// holdOf is Hold on socks, the protocol's sockets.
func holdOf(socks []procSock, resolve func(uint32) (string, bool), reserved bool, slice, proto string, port uint16) (Hold, error) {
	h := Hold{All: reserved}
	for _, s := range socks {
		if s.port != port || proto == "tcp" && s.state == tcpTimeWait {
			continue
		}
		if owner, ok := resolve(s.uid); !ok || owner != slice {
			who := "the node"
			if ok {
				who = "another slice"
			}
			return Hold{}, notHeld("%s port %d is in use by %s", proto, port, who)
		}
		if proto == "tcp" && s.state != tcpListen && s.state != tcpClose {
			continue // a connection: its port may be shared with others' connections
		}
		switch {
		case s.addr.IsUnspecified():
			h.All = true
		case !slices.Contains(h.Addrs, s.addr):
			h.Addrs = append(h.Addrs, s.addr)
		}
	}
	if h.All {
		h.Addrs = nil
	}
	if !h.All && len(h.Addrs) == 0 {
		return Hold{}, notHeld("slice %s does not own %s port %d", slice, proto, port)
	}
	return h, nil
}

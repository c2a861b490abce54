package portmgr

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
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

// NotHeldError is the error of HoldOf and Manager.Hold saying why a slice
// does not hold a port alone; its text may be shown to the slice.
type NotHeldError struct{ Reason string }

func (e *NotHeldError) Error() string { return e.Reason }

func notHeld(format string, args ...any) error {
	return &NotHeldError{Reason: fmt.Sprintf(format, args...)}
}

// HoldOf reads where slice holds proto/port alone, from the socket tables
// under procRoot (of the reader's network namespace) and reservedBy, the
// owner of the port's reservation ("" for none). The slice holds it when
// it is reserved for it, or one of its sockets is bound to it (a TCP
// listener or unconnected bound socket, or a UDP socket), and no socket of
// anyone else uses the port on any address: not another slice's, nor the
// node's own (its connections' ephemeral ports included). TCP sockets in
// TIME_WAIT, which belong to no one, are left out. resolve attributes a
// socket's UID to its slice.
func HoldOf(procRoot string, resolve func(uint32) (string, bool), reservedBy, slice, proto string, port uint16) (Hold, error) {
	if reservedBy != "" && reservedBy != slice {
		return Hold{}, notHeld("%s port %d is reserved for another slice", proto, port)
	}
	var socks []procSock
	for _, f := range procNetFiles {
		if f.proto != proto {
			continue
		}
		s, err := readProcNet(filepath.Join(procRoot, "net", f.file))
		if err != nil {
			return Hold{}, err
		}
		socks = append(socks, s...)
	}
	return holdOf(socks, resolve, reservedBy == slice, slice, proto, port)
}

// holdOf is HoldOf on socks, the protocol's sockets.
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

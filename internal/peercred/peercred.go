// Package peercred reads who is at the other end of a socket, as the
// kernel vouches for it: for a Unix socket, the peer's credentials when it
// connected (SO_PEERCRED); for a TCP connection from a socket of this
// host, that socket's owner (sock_diag). The node manager, the admin
// service, the safe raw socket service and the sensor server all tell
// their callers apart this way.
package peercred

import (
	"errors"
	"fmt"
	"net"
)

// Cred is the peer's process and user and group IDs on the host. Of a TCP
// peer only the UID is known (PID and GID are 0).
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// ErrNoPeer is Of's error for a TCP connection whose other end is no
// socket of this host that a process holds open: a remote client, or a
// local one that already closed its end.
var ErrNoPeer = errors.New("the peer is no open socket of this host")

// Of returns the credentials of c's peer; an error if c is neither a Unix
// socket nor a TCP connection (nor a connection a Limited listener
// accepted with its peer known), or they cannot be read.
func Of(c net.Conn) (Cred, error) {
	switch c := c.(type) {
	case *credConn:
		if !c.known {
			return Cred{}, fmt.Errorf("peer of %v: %w", c.RemoteAddr(), ErrNoPeer)
		}
		return c.cred, nil
	case *net.UnixConn:
		return of(c)
	case *net.TCPConn:
		return ofTCP(c)
	}
	return Cred{}, fmt.Errorf("peer credentials: %T is neither a Unix socket nor a TCP connection", c)
}

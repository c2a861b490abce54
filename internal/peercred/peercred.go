// Package peercred reads who is at the other end of a Unix socket, as the
// kernel vouches for it (SO_PEERCRED: the peer's credentials when it
// connected). The node manager, the admin service and the safe raw socket
// service all tell their callers apart this way.
package peercred

import (
	"fmt"
	"net"
)

// Cred is the peer's process and user and group IDs on the host.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// Of returns the credentials of c's peer; an error if c is not a Unix
// socket (or a connection a Limited listener accepted) or they cannot be
// read.
func Of(c net.Conn) (Cred, error) {
	if cc, ok := c.(*credConn); ok {
		return cc.cred, nil
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, fmt.Errorf("SO_PEERCRED: %T is not a Unix socket", c)
	}
	return of(uc)
}

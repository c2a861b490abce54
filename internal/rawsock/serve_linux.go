package rawsock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/peercred"
)

// Listen opens the service's Unix socket (SOCK_SEQPACKET) at path,
// replacing a stale one, readable and writable by every UID: each
// connection is identified by its peer's credentials, not by who may
// open the file.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// server is the state shared by all connections.
type server struct {
	cfg    Config
	nsfd   int // -1: the caller's namespace
	drop   *dropper
	routes *netlink.Handle

	// mu guards the following.
	mu        sync.Mutex
	bound     map[Binding]string // raw socket binding -> slice
	sessions  map[*session]held  // bound sessions (raw and sniffers)
	addrs     []netip.Addr
	addrsTime time.Time
}

// Serve runs the safe raw socket service on l (from Listen) until ctx
// ends, then closes l and every connection, releases every binding and
// removes its nftables table. Each connection is one raw socket: see
// docs/rawsock.md for the protocol.
func Serve(ctx context.Context, l net.Listener, cfg Config) error {
	defer l.Close()
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	defer s.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // ends every session when Serve returns
	defer cancel()
	l = s.limit(l)
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.recheckLoop(ctx)
	}()
	for {
		c, err := l.Accept()
		switch {
		case ctx.Err() != nil:
			if c != nil {
				c.Close()
			}
			return nil
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("accept: %w", err)
		case err != nil: // out of file descriptors, or the like: wait
			cfg.log().Warn("raw sockets: accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

func newServer(cfg Config) (s *server, err error) {
	s = &server{cfg: cfg, nsfd: -1, bound: map[Binding]string{},
		sessions: map[*session]held{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if cfg.NetNS != "" {
		if s.nsfd, err = unix.Open(cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("open netns %s: %w", cfg.NetNS, err)
		}
		s.routes, err = netlink.NewHandleAt(netns.NsHandle(s.nsfd))
	} else {
		s.routes, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	if s.drop, err = newDropper(s.nsfd); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) close() {
	if s.drop != nil {
		if err := s.drop.Close(); err != nil {
			s.cfg.log().Warn("raw sockets: remove nft table", "err", err)
		}
	}
	if s.routes != nil {
		s.routes.Close()
	}
	if s.nsfd >= 0 {
		unix.Close(s.nsfd)
	}
}

// nodeAddrs returns the node's addresses, asking at most once a second.
func (s *server) nodeAddrs() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.addrsTime) > time.Second {
		s.addrs, s.addrsTime = s.cfg.NodeAddrs(), time.Now()
	}
	return s.addrs
}

// limit bounds the connections of l: MaxConns in all, MaxConnsPerSlice
// per slice.
func (s *server) limit(l net.Listener) net.Listener {
	maxConns := or(s.cfg.MaxConns, DefaultMaxConns)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur != unix.RLIM_INFINITY {
		maxConns = max(1, min(maxConns, int(lim.Cur/2/FDsPerConn)))
	}
	log := s.cfg.log()
	perSlice := or(s.cfg.MaxConnsPerSlice, DefaultMaxConnsPerSlice)
	log.Info("raw sockets: bounds", "max_conns", maxConns, "max_conns_per_slice", perSlice,
		"max_bindings_per_slice", or(s.cfg.MaxBindingsPerSlice, DefaultMaxBindingsPerSlice), "nofile", lim.Cur)
	all := &peercred.Limited{Listener: l, Max: maxConns, Key: func(peercred.Cred) string { return "all" }, Log: log,
		Refuse: func(c net.Conn, key, why string) {
			refuseConn(c, key, why, "the raw socket service holds %d connections, the most it may; try again later", maxConns)
		}}
	return &peercred.Limited{Listener: all, Max: perSlice, Key: s.caller, Log: log,
		Refuse: func(c net.Conn, key, why string) {
			refuseConn(c, key, why, "%s holds %d connections to the raw socket service, the most it may", key, perSlice)
		}}
}

// refuseConn hangs up on a connection a Limited closes at accept: past a
// bound (format and args say which), or with credentials that could not
// be read (key "").
func refuseConn(c net.Conn, key, why, format string, args ...any) {
	if key == "" {
		hangup(c, "%s", why)
		return
	}
	hangup(c, "%s: %s", why, fmt.Sprintf(format, args...))
}

// hangup tells the peer of c why the service closes c (wire.MsgHangup),
// waiting a moment at most; the caller closes c.
func hangup(c net.Conn, format string, args ...any) {
	body := append([]byte{wire.StatusRefused}, fmt.Sprintf(format, args...)...)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.Write(wire.Message{Type: wire.MsgHangup, Body: body}.Marshal())
}

// caller names whom a connection counts against: its slice, or its UID
// when that is no sliver's.
func (s *server) caller(c peercred.Cred) string {
	if slice, ok := s.cfg.Owner(c.UID); ok {
		return "slice " + slice
	}
	return fmt.Sprintf("uid %d", c.UID)
}

// admit records ss as bound, within its slice's MaxBindingsPerSlice.
func (s *server) admit(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := or(s.cfg.MaxBindingsPerSlice, DefaultMaxBindingsPerSlice)
	n := 0
	for _, h := range s.sessions {
		if h.slice == ss.slice {
			n++
		}
	}
	if n >= limit {
		return refused("slice %s has %d bound raw and sniffer sockets, the most it may have", ss.slice, limit)
	}
	s.sessions[ss] = held{slice: ss.slice, b: ss.b, addrs: ss.addrs}
	return nil
}

// dismiss undoes admit.
func (s *server) dismiss(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss)
}

// reserve records b as bound by slice. An ICMP binding with identifier 0
// gets a free one; a taken binding is refused.
func (s *server) reserve(b Binding, slice string) (Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Proto == wire.ProtoICMP && b.Port == 0 {
		start := rand.N(uint32(65535))
		for i := range uint32(65535) {
			id := uint16((start+i)%65535 + 1)
			if _, taken := s.bound[Binding{b.Proto, id}]; !taken {
				b.Port = id
				break
			}
		}
	}
	if _, taken := s.bound[b]; taken || b.Port == 0 {
		return b, fmt.Errorf("%s is already bound to a raw socket", b)
	}
	s.bound[b] = slice
	return b, nil
}

func (s *server) release(b Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bound, b)
}

// source is the address the node sends from to dst: the route's, when
// it is one of local (the addresses the socket may use), else the first of
// local of dst's family.
func (s *server) source(dst netip.Addr, local []netip.Addr) (netip.Addr, error) {
	var routes []netlink.Route
	if s.routes != nil { // nil only in tests of the checks
		var err error
		if routes, err = s.routes.RouteGet(dst.AsSlice()); err != nil {
			return netip.Addr{}, fmt.Errorf("no route to %s: %w", dst, err)
		}
	}
	for _, r := range routes {
		if src, ok := netip.AddrFromSlice(r.Src); ok && isNodeAddr(src.Unmap(), local) {
			return src.Unmap(), nil
		}
	}
	for _, a := range local {
		if a.Unmap().Is4() == dst.Is4() {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no source address for %s", dst)
}

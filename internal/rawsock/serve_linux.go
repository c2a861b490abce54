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
	bound     map[Binding]string // binding -> slice
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
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
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
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, uc)
		}()
	}
}

func newServer(cfg Config) (s *server, err error) {
	s = &server{cfg: cfg, nsfd: -1, bound: map[Binding]string{}}
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

// source is the address the node would send from to dst.
func (s *server) source(dst netip.Addr) (netip.Addr, error) {
	var routes []netlink.Route
	if s.routes != nil { // nil only in tests of the checks
		var err error
		if routes, err = s.routes.RouteGet(dst.AsSlice()); err != nil {
			return netip.Addr{}, fmt.Errorf("no route to %s: %w", dst, err)
		}
	}
	for _, r := range routes {
		if src, ok := netip.AddrFromSlice(r.Src); ok && src.IsValid() {
			return src.Unmap(), nil
		}
	}
	for _, a := range s.nodeAddrs() {
		if a.Unmap().Is4() == dst.Is4() {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no source address for %s", dst)
}

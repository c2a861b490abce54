package sshgw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ListenAndServe listens on Config.Addr and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ssh gateway: %w", err)
	}
	s.cfg.Log.Info("ssh gateway listening", "addr", ln.Addr().String())
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection, and returns nil once they are gone. The sessions'
// commands are hung up as if their clients had left.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	delay := time.Duration(0)
	for {
		c, err := ln.Accept()
		if ctx.Err() != nil {
			if c != nil {
				c.Close()
			}
			return nil
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && delay < time.Second {
				// EMFILE and the like: back off, as net/http does.
				delay = max(2*delay, 5*time.Millisecond)
				s.cfg.Log.Warn("ssh gateway: accept", "err", err)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("ssh gateway: accept: %w", err)
		}
		delay = 0
		cl, err := s.adm.arrive(c)
		if err != nil {
			tellAndClose(c, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.adm.leave(cl)
			s.handle(ctx, cl)
		}()
	}
}

// tellAndClose closes a connection refused before its handshake, with the
// reason on a line before the version line, where SSH allows text (RFC
// 4253 section 4.2); OpenSSH's client shows it with -v.
func tellAndClose(c net.Conn, why error) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "%v\r\n", why)
	c.Close()
}

// handle runs one connection: handshake and authentication under a
// deadline, then its sessions.
func (s *Server) handle(ctx context.Context, cl *client) {
	c := cl.conn
	defer c.Close()
	sc, chans, reqs, err := s.handshake(cl)
	if err != nil {
		s.cfg.Log.Debug("ssh handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	defer sc.Close()
	slice := sc.Permissions.Extensions["slice"]
	log := s.cfg.Log.With("slice", slice, "remote", c.RemoteAddr().String())
	log.Info("ssh login", "key", sc.Permissions.Extensions["key"])
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(ctx, func() { sc.Close() })
	go ssh.DiscardRequests(reqs) // no forwarding, no global requests
	go s.keepAlive(ctx, sc)
	idle := newIdleTimer(s.cfg.IdleTimeout, func() {
		log.Info("ssh connection idle, closing")
		sc.Close()
	})
	defer idle.stop()
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.Prohibited, "orbis: only sessions are allowed, no forwarding")
			continue
		}
		if !idle.open(s.cfg.MaxSessions) {
			nc.Reject(ssh.ResourceShortage, fmt.Sprintf("orbis: at most %d sessions per connection", s.cfg.MaxSessions))
			continue
		}
		if err := s.adm.openSession(cl); err != nil {
			idle.close()
			nc.Reject(ssh.ResourceShortage, err.Error())
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			s.adm.closeSession(cl)
			idle.close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer idle.close()
			defer s.adm.closeSession(cl)
			newSession(s, ctx, sc, slice, ch, log).serve(creqs)
		}()
	}
	cancel()
	wg.Wait()
	log.Info("ssh logout")
}

// handshake runs the SSH handshake and authentication under the
// handshake deadline; authentication moves cl from its source's count to
// its slice's.
func (s *Server) handshake(cl *client) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	c := cl.conn
	c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(quickAck(c), s.serverConfig(cl))
	if err != nil {
		return nil, nil, nil, err
	}
	c.SetDeadline(time.Time{})
	return sc, chans, reqs, nil
}

// keepAlive probes the client every KeepAlive and drops the connection if
// three probes in a row go unanswered: a vanished client must not hold its
// sessions forever.
func (s *Server) keepAlive(ctx context.Context, sc *ssh.ServerConn) {
	t := time.NewTicker(s.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		watchdog := time.AfterFunc(3*s.cfg.KeepAlive, func() { sc.Close() })
		_, _, err := sc.SendRequest("keepalive@openssh.com", true, nil)
		watchdog.Stop()
		if err != nil {
			return
		}
	}
}

// idleTimer counts a connection's open sessions and fires when none has
// been open for its timeout.
type idleTimer struct {
	// mu guards the following.
	mu    sync.Mutex
	n     int
	timer *time.Timer
	d     time.Duration
	done  bool
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	return &idleTimer{d: d, timer: time.AfterFunc(d, fire)}
}

// open counts one more session, unless limit are open already.
func (t *idleTimer) open(limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n >= limit {
		return false
	}
	t.n++
	t.timer.Stop()
	return true
}

// close counts one session fewer.
func (t *idleTimer) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && !t.done {
		t.timer.Reset(t.d)
	}
}

func (t *idleTimer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	t.timer.Stop()
}

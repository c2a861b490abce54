package rawsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/peercred"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// session is one connection: one sliver's raw socket.
type session struct {
	s     *server
	c     net.Conn
	uid   uint32
	slice string // "" when the UID is no sliver's
	log   *slog.Logger

	b        Binding      // valid once bound
	addrs    []netip.Addr // a TCP or UDP binding's local addresses: where its slice holds the port
	unclaim  func()       // gives back the port manager's claim on a TCP or UDP binding's port
	bound    bool
	version  uint16 // protocol version agreed by a hello; 0 before (version 1)
	batch    batchState
	sniff    bool // a sniffer: copies of the port's packets, no sending
	closed   bool
	lost     atomic.Pointer[string] // why the recheck ended the session (lose)
	released chan struct{}          // closed once the session's binding is released for good (end)
	cap      *capture
	raw      map[int]int // address family -> IPPROTO_RAW socket
	wg       sync.WaitGroup
	received atomic.Uint64
	dropped  atomic.Uint64
	queued   atomic.Int64 // bytes captured and not yet relayed
	sent     atomic.Uint64
	refused  atomic.Uint64

	// lastRefusalLog and quietRefusals bound the log a refusing sender
	// fills: one line per refusalLogEvery, with the count in between.
	lastRefusalLog time.Time
	quietRefusals  uint64
}

// refusalLogEvery is how often a session logs a refused packet at most.
const refusalLogEvery = 10 * time.Second

func (s *server) serveConn(ctx context.Context, c net.Conn) {
	ss := &session{s: s, c: c, raw: map[int]int{}, log: s.cfg.log(), released: make(chan struct{})}
	if cred, err := peercred.Of(c); err == nil {
		ss.uid = cred.UID
		ss.slice, _ = s.cfg.Owner(cred.UID)
	}
	ss.log = ss.log.With("uid", ss.uid, "slice", ss.slice)
	ss.serve(ctx)
}

// serve reads and answers ss's requests until the connection ends or
// ctx does, then releases the binding (end) and closes the connection.
func (ss *session) serve(ctx context.Context) {
	c := ss.c
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer ss.end()
	buf := make([]byte, wire.MaxMessage)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return
		}
		m, err := wire.ParseMessage(buf[:n])
		if err != nil {
			return
		}
		if m.Type == wire.MsgSendBatch {
			if err := ss.sendBatch(m); err != nil {
				return
			}
			continue
		}
		if m.Type == wire.MsgClose {
			ss.close()
		}
		status, body := ss.handle(m)
		res := wire.Message{Type: wire.MsgResult, Seq: m.Seq, Body: append([]byte{status}, body...)}
		if _, err := c.Write(res.Marshal()); err != nil || m.Type == wire.MsgClose {
			return
		}
	}
}

// handle carries out one request and returns its result.
func (ss *session) handle(m wire.Message) (status uint8, body []byte) {
	if ss.slice == "" {
		return wire.StatusRefused, fmt.Appendf(nil, "uid %d is no sliver's", ss.uid)
	}
	var err error
	switch m.Type {
	case wire.MsgBind:
		body, err = ss.bind(m.Body, m.Flags&wire.FlagSniff != 0)
	case wire.MsgSend:
		err = ss.send(m)
	case wire.MsgHello:
		body, err = ss.hello(m.Body)
	case wire.MsgClose: // done before the answer
	case wire.MsgStats:
		body = wire.Stats{Received: ss.received.Load(), Dropped: ss.dropped.Load(),
			Sent: ss.sent.Load(), Refused: ss.refused.Load()}.Marshal()
	default:
		err = &wire.Error{Status: wire.StatusBad, Message: fmt.Sprintf("unknown message type %d", m.Type)}
	}
	if err == nil {
		return wire.StatusOK, body
	}
	return ss.statusOf(err)
}

// statusOf is the result status and message for a request that failed
// with err; a failure of the node (not the request's) is logged.
func (ss *session) statusOf(err error) (uint8, []byte) {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status, []byte(we.Message)
	}
	ss.log.Warn("raw sockets: request failed", "err", err)
	return wire.StatusInternal, []byte(err.Error())
}

func refused(format string, args ...any) error {
	return &wire.Error{Status: wire.StatusRefused, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &wire.Error{Status: wire.StatusBad, Message: fmt.Sprintf(format, args...)}
}

// bind binds the session, starts its capture and, unless it is a
// sniffer, takes its port away from the kernel's stack.
func (ss *session) bind(body []byte, sniff bool) ([]byte, error) {
	if ss.bound {
		return nil, badRequest("socket is already bound to %s", ss.b)
	}
	proto, port, err := wire.ParseBind(body)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	b := Binding{Proto: proto, Port: port}
	switch {
	case b.name() == "":
		return nil, badRequest("protocol %d: a raw socket binds tcp, udp or icmp", proto)
	case sniff && proto == wire.ProtoICMP:
		return nil, badRequest("a sniffer binds a tcp or udp port")
	case proto != wire.ProtoICMP:
		if ss.addrs, err = ss.s.holdAddrs(nil, ss.slice, b); err != nil {
			ss.log.Info("raw sockets: bind refused", "binding", b, "sniff", sniff, "err", err)
			return nil, err
		}
	}
	if !sniff {
		if b, err = ss.s.reserve(b, ss.slice); err != nil {
			return nil, refused("%v", err)
		}
	}
	ss.b, ss.sniff = b, sniff
	if err := ss.claim(); err != nil {
		ss.log.Info("raw sockets: bind refused", "binding", b, "sniff", sniff, "err", err)
		ss.releaseBinding()
		return nil, err
	}
	if err := ss.s.admit(ss); err != nil {
		ss.releaseBinding()
		return nil, err
	}
	if err := ss.start(); err != nil {
		ss.s.dismiss(ss)
		ss.releaseBinding()
		return nil, err
	}
	ss.bound = true
	ss.log.Info("raw sockets: bound", "binding", b, "sniff", sniff, "addrs", ss.addrs)
	return wire.BindBody(b.Proto, b.Port), nil
}

// claim holds a TCP or UDP binding's port for the session's slice in the
// port manager (Config.Claim), so that no one else can bind it, or get it
// as an ephemeral port, while the binding lives; then it asks again where
// the slice holds the port: a socket of someone else bound between the
// first question and the claim is caught here, and none can be bound
// after it.
func (ss *session) claim() error {
	if ss.b.Proto == wire.ProtoICMP || ss.s.cfg.Claim == nil {
		return nil
	}
	release, err := ss.s.cfg.Claim(ss.slice, ss.b.name(), ss.b.Port, ss.revoke)
	var nh *portmgr.NotHeldError
	if errors.As(err, &nh) {
		return refused("%s", nh.Reason)
	}
	if err != nil {
		return fmt.Errorf("claim the port: %w", err)
	}
	addrs, err := ss.s.holdAddrs(nil, ss.slice, ss.b)
	if err != nil {
		release()
		return err
	}
	ss.addrs, ss.unclaim = addrs, release
	return nil
}

// releaseBinding gives back a raw socket's binding (a sniffer has none to
// give) and the port manager's claim.
func (ss *session) releaseBinding() {
	if !ss.sniff {
		ss.s.release(ss.b)
	}
	if ss.unclaim != nil {
		ss.unclaim()
		ss.unclaim = nil
	}
}

// start opens the capture and the relay goroutines, then, unless the
// session is a sniffer, drops its addresses and port from the kernel's
// stack.
func (ss *session) start() (err error) {
	if ss.cap, err = newCapture(ss.s.nsfd, ss.b, ss.sniff); err != nil {
		return err
	}
	if !ss.sniff {
		if err = ss.s.drop.set(ss.b, ss.addrs, true); err != nil {
			ss.cap.Close()
			ss.cap = nil
			return err
		}
	}
	ss.relay(ss.b)
	return nil
}

// relay starts the goroutines that capture and relay b's packets.
func (ss *session) relay(b Binding) {
	queue := make(chan []byte, or(ss.s.cfg.QueueLen, DefaultQueueLen))
	ss.wg.Add(2)
	go ss.captureLoop(b, queue)
	go ss.relayLoop(queue)
}

// wants reports whether the session relays a captured packet that went
// in direction dir: for a sniffer, one whose local side is its binding
// (Sniffs); otherwise one of its binding's (Wants) addressed to one of its
// local addresses.
func (ss *session) wants(pkt []byte, b Binding, dir direction) bool {
	if ss.sniff {
		return Sniffs(pkt, b, ss.addrs, dir)
	}
	p, ok := receivedIP(pkt)
	return ok && dir != sent && Wants(pkt, b) && isNodeAddr(p.dst, ss.localAddrs())
}

// localAddrs are the addresses the session may send from and receive at:
// a TCP or UDP binding's own, or for ICMP every one of the node's.
func (ss *session) localAddrs() []netip.Addr {
	if ss.b.Proto == wire.ProtoICMP {
		return ss.s.nodeAddrs()
	}
	return ss.addrs
}

// captureLoop reads the capture, keeps the packets the session wants and
// queues them, dropping (and counting) those that find the queue full.
func (ss *session) captureLoop(b Binding, queue chan<- []byte) {
	defer ss.wg.Done()
	defer close(queue)
	buf := make([]byte, 65536)
	maxBytes := int64(or(ss.s.cfg.QueueBytes, DefaultQueueBytes))
	for {
		n, dir, err := ss.cap.read(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		if dir == loopSent || !ss.wants(pkt, b, dir) {
			continue
		}
		if ss.queued.Load()+int64(n) > maxBytes {
			ss.dropped.Add(1)
			continue
		}
		select {
		case queue <- slices.Clone(pkt):
			ss.queued.Add(int64(n))
		default:
			ss.dropped.Add(1)
		}
	}
}

// relayLoop writes queued packets to the sliver.
func (ss *session) relayLoop(queue <-chan []byte) {
	defer ss.wg.Done()
	for pkt := range queue {
		ss.queued.Add(-int64(len(pkt)))
		m := wire.Message{Type: wire.MsgPacket, Body: pkt}
		if _, err := ss.c.Write(m.Marshal()); err != nil {
			continue // keep draining until the capture ends
		}
		ss.received.Add(1)
	}
}

// send checks one packet and sends it.
func (ss *session) send(m wire.Message) error {
	pkt, err := ss.checked(m)
	if err != nil {
		return err
	}
	if err := ss.transmit(pkt); err != nil {
		return err
	}
	ss.sent.Add(1)
	return nil
}

// checked returns the packet a send asks for once the checker has
// accepted it; a refusal is counted and logged.
func (ss *session) checked(m wire.Message) ([]byte, error) {
	if !ss.bound {
		return nil, badRequest("socket is not bound")
	}
	if ss.sniff {
		ss.refused.Add(1)
		return nil, refused("a sniffer socket cannot send")
	}
	pkt, err := ss.packet(m)
	if err != nil {
		return nil, err
	}
	if err := Check(pkt, ss.b, ss.localAddrs()); err != nil {
		ss.refused.Add(1)
		ss.logRefusal(err)
		return nil, refused("packet refused: %v", err)
	}
	return pkt, nil
}

// logRefusal logs a refused packet, at most once per refusalLogEvery for
// the session, with how many went unlogged since the last line.
func (ss *session) logRefusal(err error) {
	now := time.Now()
	if now.Sub(ss.lastRefusalLog) < refusalLogEvery {
		ss.quietRefusals++
		return
	}
	ss.log.Info("raw sockets: packet refused", "binding", ss.b, "err", err, "refused_unlogged_before", ss.quietRefusals)
	ss.lastRefusalLog, ss.quietRefusals = now, 0
}

// packet returns the whole IP packet a send asks for: as given, or built
// around a SendTo segment with the node's source address for the route.
func (ss *session) packet(m wire.Message) ([]byte, error) {
	if m.Flags&wire.FlagHdrIncl != 0 {
		return m.Body, nil
	}
	to, seg, err := wire.ParseSendTo(m.Body)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	dst := to.Dst.Unmap()
	src, err := ss.s.source(dst, ss.localAddrs())
	if err != nil {
		return nil, refused("%v", err)
	}
	ttl := to.TTL
	if ttl == 0 {
		ttl = 64
	}
	seg = slices.Clone(seg)
	wire.SetChecksum(src, dst, ss.b.Proto, seg)
	return wire.BuildIP(src, dst, ss.b.Proto, ttl, seg), nil
}

// transmit sends a checked packet on the sliver's raw socket.
func (ss *session) transmit(pkt []byte) error {
	v6 := pkt[0]>>4 == 6
	fd, err := ss.rawFD(v6)
	if err != nil {
		return err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte(pkt[16:20])}
	if v6 {
		sa = &unix.SockaddrInet6{Addr: [16]byte(pkt[24:40])}
	}
	if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("send to %s: %w", dstOf(pkt), err)
	}
	return nil
}

// rawFD returns the session's IPPROTO_RAW socket of the family, made
// under the sliver's UID so the node's tagging attributes its packets to
// the slice.
func (ss *session) rawFD(v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	if fd, ok := ss.raw[family]; ok {
		return fd, nil
	}
	var fd int
	err := onThread(ss.s.nsfd, ss.uid, func() (err error) {
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("open raw socket: %w", err)
	}
	ss.raw[family] = fd
	return fd, nil
}

func dstOf(pkt []byte) netip.Addr {
	if pkt[0]>>4 == 6 {
		return netip.AddrFrom16([16]byte(pkt[24:40]))
	}
	return netip.AddrFrom4([4]byte(pkt[16:20]))
}

// lose ends a session whose slice no longer holds its port (the
// recheck): it stops the session's reads and writes, so that its own
// goroutine (serve) releases the binding at once, and writes the hang-up
// with reason after that (end), with a deadline of its own. lose never
// waits on the sliver, so that a recheck losing many sessions whose
// slivers read nothing releases them all at once, not one after another.
func (ss *session) lose(reason string) {
	if !ss.lost.CompareAndSwap(nil, &reason) {
		return
	}
	// Past deadlines end the read serve waits in and a write blocked on a
	// sliver that does not read.
	now := time.Now()
	if ss.c.SetReadDeadline(now) != nil || ss.c.SetWriteDeadline(now) != nil {
		ss.c.Close() // no hang-up then, but the binding is released
	}
}

// revokeWait bounds how long revoke waits for a session to release its
// binding: the release stops the capture and relay and removes the drop
// rule, which takes milliseconds; a session past it is logged.
const revokeWait = 5 * time.Second

// revoke is the port manager's Revoke of the session's claim (a
// reservation took its port): it ends the session as lose does, and
// returns once its binding is released (its capture closed and its drop
// rule removed), so that none of the port's new owner's packets is
// dropped or captured for the session. A bind under way when its claim is
// revoked fails, or is released as soon as it is made.
func (ss *session) revoke(reason string) {
	ss.log.Warn("raw sockets: port claim revoked: closing the socket", "binding", ss.b, "reason", reason)
	ss.lose(reason)
	select {
	case <-ss.released:
	case <-time.After(revokeWait):
		ss.log.Error("raw sockets: revoked binding not released in time", "binding", ss.b, "wait", revokeWait)
	}
}

// end releases the binding, then tells the sliver why it lost it, if it
// did (lose).
func (ss *session) end() {
	ss.close()
	if ss.released != nil {
		close(ss.released)
	}
	if reason := ss.lost.Load(); reason != nil {
		hangup(ss.c, "%s", *reason)
	}
}

// close releases the binding: the capture and relay stop, the kernel's
// stack gets the port back, the raw sockets close. The connection stays
// open (for the answer to MsgClose); serveConn closes it.
func (ss *session) close() {
	if ss.closed {
		return
	}
	ss.closed = true
	ss.c.SetWriteDeadline(time.Now()) // ends a relay blocked on a sliver that does not read
	if ss.cap != nil {
		ss.cap.Close()
	}
	ss.wg.Wait()
	ss.c.SetWriteDeadline(time.Time{})
	if ss.bound {
		if !ss.sniff {
			if err := ss.s.drop.set(ss.b, ss.addrs, false); err != nil {
				// The kernel still drops the port's packets: another slice
				// given the port would lose them unseen. Keep the port
				// held until the service restarts (it makes its table anew).
				ss.log.Error("raw sockets: release port: the port stays held", "binding", ss.b, "err", err)
				ss.unclaim = nil
			}
		}
		ss.s.dismiss(ss)
		ss.releaseBinding()
		ss.log.Info("raw sockets: released", "binding", ss.b, "sniff", ss.sniff)
	}
	for _, fd := range ss.raw {
		unix.Close(fd)
	}
}

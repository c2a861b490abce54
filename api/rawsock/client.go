package rawsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one safe raw socket: a connection to the service with one
// binding. Its methods are safe for concurrent use.
type Conn struct {
	c     *net.UnixConn
	proto uint8
	port  uint16
	recv  chan []byte // received packets, bounded
	done  chan struct{}

	dropped atomic.Uint64
	wake    chan struct{} // tells the writer there is something to write
	version atomic.Uint32 // the protocol version spoken; 0 until asked

	helloMu sync.Mutex // serializes asking for version 2

	// mu guards the following.
	mu      sync.Mutex
	pending map[uint32]chan Message
	err     error // why the connection ended

	// wmu guards the following: what goes to the service, in seq order.
	// It is taken before mu when both are.
	wmu      sync.Mutex
	next     uint32        // seq of the next request or queued packet
	out      [][]byte      // messages for the writer, in order
	outBytes int           // bytes in out and cur
	cur      []byte        // the batch being filled, a whole message; nil when none
	curN     int           // entries in cur
	curFirst uint32        // seq of cur's first entry
	free     [][]byte      // written batch buffers to reuse
	inflight []batchRec    // batches written or sealed, not yet acknowledged
	unacked  int           // queued packets not yet acknowledged
	errs     []error       // refusals of queued packets not yet returned by Flush
	moreErrs int           // refusals past maxErrs
	changed  chan struct{} // closed and replaced when unacked, errs or out change
}

// recvQueue bounds the packets a Conn holds for a reader that is slow.
const recvQueue = 256

// Dial connects to the service at path (DefaultPath when empty) and binds
// a raw socket to proto (ProtoTCP, ProtoUDP or ProtoICMP) and port, the
// TCP/UDP port or ICMP echo identifier. For ProtoICMP, port 0 asks the
// service for any free identifier: see Port.
func Dial(ctx context.Context, path string, proto uint8, port uint16) (*Conn, error) {
	return dial(ctx, path, 0, proto, port)
}

// Sniff connects to the service at path (DefaultPath when empty) and
// opens a sniffer socket on proto (ProtoTCP or ProtoUDP) and port, which
// the caller's slice must hold alone: Receive then returns a copy of
// every packet the node receives at that port, or sends from it, on the
// addresses the slice holds it on, IP header first, while the port's own
// sockets keep working. A sniffer cannot send: Send and
// SendTo are refused.
func Sniff(ctx context.Context, path string, proto uint8, port uint16) (*Conn, error) {
	return dial(ctx, path, FlagSniff, proto, port)
}

func dial(ctx context.Context, path string, flags, proto uint8, port uint16) (*Conn, error) {
	if path == "" {
		path = DefaultPath
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		return nil, fmt.Errorf("connect to raw socket service: %w", err)
	}
	c := &Conn{c: nc.(*net.UnixConn), recv: make(chan []byte, recvQueue),
		done: make(chan struct{}), pending: map[uint32]chan Message{},
		wake: make(chan struct{}, 1), next: 1, changed: make(chan struct{})}
	go c.read()
	go c.write()
	res, err := c.call(ctx, Message{Type: MsgBind, Flags: flags, Body: BindBody(proto, port)})
	if err == nil {
		c.proto, c.port, err = ParseBind(res)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bind raw socket: %w", err)
	}
	return c, nil
}

// Proto is the IP protocol the socket is bound to.
func (c *Conn) Proto() uint8 { return c.proto }

// Port is the bound TCP/UDP port or ICMP identifier.
func (c *Conn) Port() uint16 { return c.port }

// Send sends a whole IP packet, header included (IP_HDRINCL-style). The
// service refuses, with an error matching ErrRefused, any packet that is
// malformed, fragmented, or not from one of the node's addresses and the
// bound port or identifier.
func (c *Conn) Send(ctx context.Context, packet []byte) error {
	_, err := c.call(ctx, Message{Type: MsgSend, Flags: FlagHdrIncl, Body: packet})
	return err
}

// SendTo sends a transport segment (a TCP, UDP, ICMP or ICMPv6 header and
// its payload) to dst with the given TTL (0: 64); the service adds the IP
// header with the node's source address for that route, fills the
// segment's checksum, and checks the packet as Send does.
func (c *Conn) SendTo(ctx context.Context, dst netip.Addr, ttl uint8, segment []byte) error {
	_, err := c.call(ctx, Message{Type: MsgSend, Body: SendTo{Dst: dst, TTL: ttl}.Marshal(segment)})
	return err
}

// Receive returns the next packet of the binding, IP header first.
func (c *Conn) Receive(ctx context.Context) ([]byte, error) {
	select {
	case p := <-c.recv:
		return p, nil
	case <-c.done:
		select {
		case p := <-c.recv:
			return p, nil
		default:
		}
		return nil, c.readErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stats returns the service's counters for this socket; Dropped adds the
// packets this Conn dropped because Receive was not called often enough.
func (c *Conn) Stats(ctx context.Context) (Stats, error) {
	res, err := c.call(ctx, Message{Type: MsgStats})
	if err != nil {
		return Stats{}, err
	}
	s, err := ParseStats(res)
	s.Dropped += c.dropped.Load()
	return s, err
}

// Close closes the socket. It asks the service to release the binding
// first and waits (a second at most) until it has, so that the port or
// identifier can be bound again at once.
func (c *Conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.call(ctx, Message{Type: MsgClose})
	return c.c.Close()
}

// call sends a request and waits for its result's payload.
func (c *Conn) call(ctx context.Context, m Message) ([]byte, error) {
	_, res, err := c.request(ctx, m)
	return res, err
}

// request sends a request after everything queued before it and waits
// for its result's payload; it returns the seq it gave the request.
func (c *Conn) request(ctx context.Context, m Message) (uint32, []byte, error) {
	ch := make(chan Message, 1)
	c.wmu.Lock()
	m.Seq = c.next
	c.next++
	c.mu.Lock()
	err := c.err
	if err == nil {
		c.pending[m.Seq] = ch
	}
	c.mu.Unlock()
	if err != nil {
		c.wmu.Unlock()
		return m.Seq, nil, err
	}
	c.sealLocked()
	b := m.Marshal()
	c.out = append(c.out, b)
	c.outBytes += len(b)
	c.wmu.Unlock()
	c.kick()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.Seq)
		c.mu.Unlock()
	}()
	select {
	case r := <-ch:
		res, err := result(r)
		return m.Seq, res, err
	case <-c.done:
		return m.Seq, nil, c.readErr()
	case <-ctx.Done():
		return m.Seq, nil, ctx.Err()
	}
}

func result(r Message) ([]byte, error) {
	if len(r.Body) == 0 {
		return nil, errors.New("raw socket service: empty result")
	}
	if r.Body[0] != StatusOK {
		return nil, &Error{Status: r.Body[0], Message: string(r.Body[1:])}
	}
	return r.Body[1:], nil
}

// read hands results to their callers and queues packets, dropping them
// when the queue is full, until the connection ends.
func (c *Conn) read() {
	defer close(c.done)
	for {
		buf := make([]byte, MaxMessage)
		n, err := c.c.Read(buf)
		if errors.Is(err, syscall.ECONNRESET) {
			// The service hung up with a request of ours unread: its
			// MsgHangup, if it sent one, is still to be read.
			n, err = c.c.Read(buf)
		}
		if err == nil && n == 0 {
			err = errors.New("raw socket service closed the connection")
		}
		var m Message
		if err == nil {
			m, err = ParseMessage(buf[:n])
		}
		if err != nil {
			c.fail(fmt.Errorf("read from raw socket service: %w", err))
			return
		}
		c.dispatch(m)
	}
}

// fail records why the connection ended, unless it already has a reason.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *Conn) dispatch(m Message) {
	switch m.Type {
	case MsgPacket:
		select {
		case c.recv <- m.Body:
		default:
			c.dropped.Add(1)
		}
	case MsgResult:
		c.mu.Lock()
		ch := c.pending[m.Seq]
		c.mu.Unlock()
		if ch != nil {
			ch <- m
			return
		}
		if _, err := result(m); err != nil { // a queued packet the service did not send
			c.refusedQueued(m.Seq, err)
		}
	case MsgAck:
		c.acked(m.Seq)
	case MsgHangup: // the connection's end, and every call's error from now on
		if _, err := result(m); err != nil {
			c.fail(err)
		}
	}
}

func (c *Conn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

package rawsock

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// Bounds of the packets a Conn has queued: at most window not yet
// acknowledged by the service, and at most maxOutBytes not yet written
// to it.
const (
	window      = 4096
	maxOutBytes = 4 * MaxMessage
	maxErrs     = 64 // refusals Flush returns one by one; past it, a count
	freeBufs    = 4  // batch buffers kept for reuse
)

// batchRec is a batch written (or about to be) and not yet acknowledged.
type batchRec struct {
	last uint32 // seq of its last entry
	n    int    // its entries
}

// SendError is a queued packet (Queue, QueueTo) that the service did not
// send, reported by Flush: Seq is the number Queue returned for it, Err
// the service's *Error (errors.Is(err, ErrRefused) for a refusal).
type SendError struct {
	Seq uint32
	Err error
}

func (e *SendError) Error() string { return fmt.Sprintf("packet %d: %v", e.Seq, e.Err) }

// Unwrap returns the service's error.
func (e *SendError) Unwrap() error { return e.Err }

// Queue sends a whole IP packet, header included, as Send does but
// without waiting for the service's answer: the Conn gathers queued
// packets into batches (protocol version 2) that the service checks one
// by one and sends together. It returns the packet's sequence number;
// a packet the service does not send is reported by Flush with it. An
// error from Queue means the packet was not queued: the connection
// ended, or ctx ended while Queue waited for room (at most 4096 packets
// are unacknowledged at a time). Against a service that speaks only
// version 1, Queue sends synchronously, as Send.
func (c *Conn) Queue(ctx context.Context, packet []byte) (uint32, error) {
	return c.queue(ctx, FlagHdrIncl, packet, nil)
}

// QueueTo is Queue for a transport segment to dst, as SendTo.
func (c *Conn) QueueTo(ctx context.Context, dst netip.Addr, ttl uint8, segment []byte) (uint32, error) {
	return c.queue(ctx, 0, segment, &SendTo{Dst: dst, TTL: ttl})
}

// Flush waits until the service has handled every packet queued so far
// and returns the ones it did not send since the last Flush: each a
// *SendError (joined with errors.Join), the first 64 of them, then how
// many more.
func (c *Conn) Flush(ctx context.Context) error {
	c.wmu.Lock()
	c.sealLocked()
	c.wmu.Unlock()
	c.kick()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	for c.unacked > 0 && err == nil {
		err = c.waitLocked(ctx)
	}
	errs := c.errs
	if c.moreErrs > 0 {
		errs = append(errs, fmt.Errorf("%d more queued packets were not sent", c.moreErrs))
	}
	c.errs, c.moreErrs = nil, 0
	return errors.Join(append(errs, err)...)
}

func (c *Conn) queue(ctx context.Context, flags uint8, body []byte, to *SendTo) (uint32, error) {
	v2, err := c.pipelined(ctx)
	if err != nil {
		return 0, err
	}
	n := len(body)
	if to != nil {
		n += 4 + 16
	}
	if !v2 || n > 0xffff {
		return c.sendNow(ctx, flags, body, to)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.unacked >= window || c.outBytes >= maxOutBytes {
		if err := c.waitLocked(ctx); err != nil {
			return 0, err
		}
	}
	if err := c.readErr(); err != nil {
		return 0, err
	}
	seq := c.next
	c.next++
	if c.cur != nil && (len(c.cur)+EntryLen(n) > MaxMessage || c.curN == 0xffff) {
		c.sealLocked()
	}
	if c.cur == nil {
		c.cur = AppendBatchHeader(append(c.buffer(), make([]byte, HeaderLen)...))
		c.curFirst, c.outBytes = seq, c.outBytes+HeaderLen+batchHeaderLen
	}
	start := len(c.cur)
	if to != nil {
		c.cur = AppendBatchEntry(c.cur, flags, to.Marshal(body))
	} else {
		c.cur = AppendBatchEntry(c.cur, flags, body)
	}
	c.curN++
	c.unacked++
	c.outBytes += len(c.cur) - start
	c.kick()
	return seq, nil
}

// sendNow sends one packet synchronously for Queue, recording a refusal
// for Flush.
func (c *Conn) sendNow(ctx context.Context, flags uint8, body []byte, to *SendTo) (uint32, error) {
	if to != nil {
		body = to.Marshal(body)
	}
	seq, _, err := c.request(ctx, Message{Type: MsgSend, Flags: flags, Body: body})
	var se *Error
	if errors.As(err, &se) {
		c.refusedQueued(seq, err)
		return seq, nil
	}
	return seq, err
}

// pipelined reports whether the service speaks version 2, asking it once.
func (c *Conn) pipelined(ctx context.Context) (bool, error) {
	if v := c.version.Load(); v != 0 {
		return v >= 2, nil
	}
	c.helloMu.Lock()
	defer c.helloMu.Unlock()
	if v := c.version.Load(); v != 0 {
		return v >= 2, nil
	}
	res, err := c.call(ctx, Message{Type: MsgHello, Body: HelloBody(Version)})
	var se *Error
	v := uint16(1)
	switch {
	case errors.As(err, &se) && se.Status == StatusBad: // a version 1 service
	case err != nil:
		return false, fmt.Errorf("ask raw socket service for version %d: %w", Version, err)
	default:
		if v, err = ParseHello(res); err != nil || v == 0 {
			return false, fmt.Errorf("raw socket service's hello: %q: %v", res, err)
		}
	}
	c.version.Store(uint32(min(v, Version)))
	return v >= 2, nil
}

// buffer returns an empty batch buffer of MaxMessage bytes' capacity.
func (c *Conn) buffer() []byte {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, MaxMessage)
}

// sealLocked closes the batch being filled and puts it in line for the
// writer.
func (c *Conn) sealLocked() {
	if c.cur == nil {
		return
	}
	h := c.cur[:HeaderLen]
	copy(h, Message{Type: MsgSendBatch, Seq: c.curFirst}.Marshal())
	SetBatchCount(c.cur[HeaderLen:], uint16(c.curN))
	c.out = append(c.out, c.cur)
	c.inflight = append(c.inflight, batchRec{last: c.curFirst + uint32(c.curN) - 1, n: c.curN})
	c.cur, c.curN = nil, 0
}

// kick wakes the writer.
func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write writes the queued messages in order, taking whatever batch is
// being filled each time it starts, until the connection ends.
func (c *Conn) write() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			c.wmu.Lock()
			c.sealLocked()
			msgs := c.out
			c.out = nil
			c.wmu.Unlock()
			if len(msgs) == 0 {
				break
			}
			n := 0
			for _, b := range msgs {
				if _, err := c.c.Write(b); err != nil {
					c.fail(fmt.Errorf("write to raw socket service: %w", err))
					c.c.Close() // ends the reader, so every waiter learns
					return
				}
				n += len(b)
			}
			c.wrote(msgs, n)
		}
	}
}

// wrote accounts for written messages and keeps their buffers.
func (c *Conn) wrote(msgs [][]byte, n int) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.outBytes -= n
	for _, b := range msgs {
		if cap(b) == MaxMessage && len(c.free) < freeBufs {
			c.free = append(c.free, b)
		}
	}
	c.notifyLocked()
}

// acked retires the batches up to the one ending at seq.
func (c *Conn) acked(seq uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(c.inflight) > 0 {
		r := c.inflight[0]
		c.inflight = c.inflight[1:]
		c.unacked -= r.n
		if r.last == seq {
			break
		}
	}
	c.notifyLocked()
}

// refusedQueued records that the queued packet seq was not sent.
func (c *Conn) refusedQueued(seq uint32, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.errs) < maxErrs {
		c.errs = append(c.errs, &SendError{Seq: seq, Err: err})
	} else {
		c.moreErrs++
	}
	c.notifyLocked()
}

func (c *Conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitLocked waits, with wmu released, until the queue changes; it
// fails when ctx or the connection ends.
func (c *Conn) waitLocked(ctx context.Context) error {
	ch := c.changed
	c.wmu.Unlock()
	defer c.wmu.Lock()
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.readErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

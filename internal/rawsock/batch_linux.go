package rawsock

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// batchState is a session's buffers for batches, reused from one to the
// next so that a batch allocates nothing when all goes well.
type batchState struct {
	entries []wire.BatchEntry
	tx      []txPacket
	results []wire.Message
	mm      mmsgBuf
}

// txPacket is a checked packet of a batch and the seq it came with.
type txPacket struct {
	seq uint32
	pkt []byte
}

// hello agrees on a protocol version: the lower of the client's and this
// service's. A connection says hello at most once.
func (ss *session) hello(body []byte) ([]byte, error) {
	v, err := wire.ParseHello(body)
	switch {
	case err != nil:
		return nil, badRequest("%v", err)
	case v == 0:
		return nil, badRequest("protocol version 0 does not exist")
	case ss.version != 0:
		return nil, badRequest("the connection already speaks version %d", ss.version)
	}
	ss.version = min(v, wire.Version)
	return wire.HelloBody(ss.version), nil
}

// sendBatch carries out a MsgSendBatch: it checks every packet, sends
// the accepted ones together on the sliver's raw socket, answers each
// one not sent with a result of its seq, then acknowledges the batch. It
// fails only when writing to the connection does.
func (ss *session) sendBatch(m wire.Message) error {
	if ss.version < 2 {
		return ss.write(resultMsg(m.Seq, wire.StatusBad, []byte("a batch needs protocol version 2: send a hello first")))
	}
	tx, results, last := ss.planBatch(m)
	results = ss.transmitBatch(tx, results)
	defer func() { ss.batch.results = keptResults(results) }()
	for _, r := range results {
		if err := ss.write(r); err != nil {
			return err
		}
	}
	return ss.write(wire.Message{Type: wire.MsgAck, Seq: last})
}

// maxKeptResults bounds the results a session keeps for its next batch.
const maxKeptResults = 64

// keptResults is what a session keeps of a batch's results for the next
// one: nothing the results point to, and no room beyond maxKeptResults.
// A batch may hold thousands of entries a sliver made to be refused, and
// a sliver may hold many sessions: none keeps that much memory after the
// batch is answered.
func keptResults(results []wire.Message) []wire.Message {
	if cap(results) > maxKeptResults {
		return nil
	}
	clear(results[:cap(results)])
	return results[:0]
}

func (ss *session) write(m wire.Message) error {
	_, err := ss.c.Write(m.Marshal())
	return err
}

// planBatch checks a batch's packets: it returns those to send, the
// results for those refused, and the seq its acknowledgment carries (of
// its last entry). A batch that is malformed, or that this socket may
// not send at all, gets one result with its first seq and sends nothing.
func (ss *session) planBatch(m wire.Message) (tx []txPacket, results []wire.Message, last uint32) {
	bs := &ss.batch
	tx, results = bs.tx[:0], bs.results[:0]
	count := wire.ParseBatchCount(m.Body)
	last = m.Seq + uint32(max(count, 1)) - 1
	whole := func(status uint8, format string, args ...any) ([]txPacket, []wire.Message, uint32) {
		msg := fmt.Sprintf("batch of %d packets from seq %d: %s; none was sent", count, m.Seq, fmt.Sprintf(format, args...))
		return tx, append(results, resultMsg(m.Seq, status, []byte(msg))), last
	}
	var err error
	switch bs.entries, err = wire.ParseBatch(bs.entries, m.Body); {
	case ss.slice == "":
		return whole(wire.StatusRefused, "uid %d is no sliver's", ss.uid)
	case err != nil:
		return whole(wire.StatusBad, "malformed: %v", err)
	case !ss.bound:
		return whole(wire.StatusBad, "socket is not bound")
	case ss.sniff:
		ss.refused.Add(uint64(count))
		return whole(wire.StatusRefused, "a sniffer socket cannot send")
	}
	for i, e := range bs.entries {
		seq := m.Seq + uint32(i)
		pkt, err := ss.checked(wire.Message{Type: wire.MsgSend, Flags: e.Flags, Body: e.Body})
		if err != nil {
			status, msg := ss.statusOf(err)
			results = append(results, resultMsg(seq, status, msg))
			continue
		}
		tx = append(tx, txPacket{seq: seq, pkt: pkt})
	}
	bs.tx, bs.results = tx, results
	return tx, results, last
}

func resultMsg(seq uint32, status uint8, msg []byte) wire.Message {
	return wire.Message{Type: wire.MsgResult, Seq: seq, Body: append([]byte{status}, msg...)}
}

// transmitBatch sends checked packets, each run of one address family
// with one sendmmsg, and appends a result for each packet the node
// failed to send.
func (ss *session) transmitBatch(tx []txPacket, results []wire.Message) []wire.Message {
	for len(tx) > 0 {
		v6 := tx[0].pkt[0]>>4 == 6
		n := 1
		for n < len(tx) && (tx[n].pkt[0]>>4 == 6) == v6 {
			n++
		}
		run := tx[:n]
		tx = tx[n:]
		fd, err := ss.rawFD(v6)
		if err != nil {
			status, msg := ss.statusOf(err)
			for _, p := range run {
				results = append(results, resultMsg(p.seq, status, msg))
			}
			continue
		}
		sent := ss.batch.mm.send(fd, v6, run, func(i int, err error) {
			status, msg := ss.statusOf(fmt.Errorf("send to %s: %w", dstOf(run[i].pkt), err))
			results = append(results, resultMsg(run[i].seq, status, msg))
		})
		ss.sent.Add(uint64(sent))
	}
	return results
}

// mmsgBuf holds sendmmsg's arguments, reused between batches.
type mmsgBuf struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	sa4  []unix.RawSockaddrInet4
	sa6  []unix.RawSockaddrInet6
}

// send sends pkts, all IPv6 or all IPv4, on the raw socket fd to their
// destination addresses, with as few sendmmsg calls as it can; fail gets
// the index and error of each packet the kernel did not take. It
// returns how many it took.
func (mb *mmsgBuf) send(fd int, v6 bool, pkts []txPacket, fail func(i int, err error)) int {
	n := len(pkts)
	mb.hdrs = grow(mb.hdrs, n)
	mb.iovs = grow(mb.iovs, n)
	if v6 {
		mb.sa6 = grow(mb.sa6, n)
	} else {
		mb.sa4 = grow(mb.sa4, n)
	}
	for i, p := range pkts {
		mb.iovs[i] = unix.Iovec{Base: &p.pkt[0]}
		mb.iovs[i].SetLen(len(p.pkt))
		h := &mb.hdrs[i]
		*h = unix.Mmsghdr{}
		h.Hdr.Iov = &mb.iovs[i]
		h.Hdr.SetIovlen(1)
		if v6 {
			mb.sa6[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: [16]byte(p.pkt[24:40])}
			h.Hdr.Name, h.Hdr.Namelen = (*byte)(unsafe.Pointer(&mb.sa6[i])), unix.SizeofSockaddrInet6
		} else {
			mb.sa4[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte(p.pkt[16:20])}
			h.Hdr.Name, h.Hdr.Namelen = (*byte)(unsafe.Pointer(&mb.sa4[i])), unix.SizeofSockaddrInet4
		}
	}
	sent := 0
	for off := 0; off < n; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&mb.hdrs[off])), uintptr(n-off), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			fail(off, errno) // the first packet failed: skip it
			off++
		case r == 0:
			fail(off, unix.EIO)
			off++
		default:
			off += int(r)
			sent += int(r)
		}
	}
	runtime.KeepAlive(pkts)
	runtime.KeepAlive(mb)
	return sent
}

// grow returns s with length n, reallocated only when too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

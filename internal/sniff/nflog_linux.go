package sniff

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Config says which NFLOG group to read, and where.
type Config struct {
	// Group is the NFLOG group the tagger logs to (netfilter
	// Config.LogGroup); required.
	Group uint16
	// NetNS is the path of the network namespace to read in; empty means
	// the caller's.
	NetNS string
	// Log receives a record when the kernel dropped packets.
	Log *slog.Logger
	// Slice names the slice whose packets leave with a mark
	// (netfilter.Tagger.SliceOfMark), or returns ""; nil means every
	// packet is reported as the node's.
	Slice func(mark uint32) string
	// ReadBuffer is the size of the socket's receive buffer, where
	// records wait while the stream is busy; 0 means DefaultReadBuffer.
	ReadBuffer int
}

// DefaultReadBuffer is a Config's default ReadBuffer. The kernel doubles
// it and charges each batch of 16 records about 8.5 KiB, so about 15,000
// records can wait.
const DefaultReadBuffer = 4 << 20

// nfnetlink_log constants (linux/netfilter/nfnetlink_log.h).
const (
	subsysULOG     = 4   // NFNL_SUBSYS_ULOG
	msgConfig      = 1   // NFULNL_MSG_CONFIG
	cfgCmd         = 1   // NFULA_CFG_CMD
	cfgMode        = 2   // NFULA_CFG_MODE
	cfgNLBufSize   = 3   // NFULA_CFG_NLBUFSIZ
	cfgTimeout     = 4   // NFULA_CFG_TIMEOUT, in 1/100 s
	cfgQThresh     = 5   // NFULA_CFG_QTHRESH
	cfgFlags       = 6   // NFULA_CFG_FLAGS
	cmdBind        = 1   // NFULNL_CFG_CMD_BIND
	cmdUnbind      = 2   // NFULNL_CFG_CMD_UNBIND
	copyPacket     = 2   // NFULNL_COPY_PACKET
	flagSeq        = 1   // NFULNL_CFG_F_SEQ
	copyRange      = 128 // the headers
	batchTimeout   = 10  // flush a partial batch after 100 ms
	batchThreshold = 16  // or at 16 packets
	// batchBytes is the size of the kernel's buffer for one batch: 16
	// records of at most about 250 bytes (128 of headers, the
	// attributes), with room for a 128-byte log prefix each, and small
	// enough that the buffer and its bookkeeping take one 8 KiB slab. The socket's receive buffer is
	// charged that whole size per batch, so a larger one (the kernel's
	// default is 128 KiB) would let far fewer records wait in it.
	batchBytes = 7 << 10
)

// Source is a bound NFLOG group: from Open on, the kernel queues the
// group's records for it.
type Source struct {
	c     *netlink.Conn
	group uint16
	log   *slog.Logger
	slice func(mark uint32) string
}

// Open binds the NFLOG group of cfg. Only one listener may bind a group
// in a namespace; Open takes it over from one that died.
func Open(cfg Config) (*Source, error) {
	if cfg.Group == 0 {
		return nil, errors.New("sniff: no NFLOG group")
	}
	src := &Source{group: cfg.Group, log: cfg.Log, slice: cfg.Slice}
	if src.log == nil {
		src.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if src.c, err = dial(cfg); err != nil {
		return nil, err
	}
	return src, nil
}

// Run publishes the group's packets on s until ctx ends or Close, then
// closes the source. It reads the socket directly, a whole batch a call
// into one reused buffer, and decodes the records in place: at a few
// hundred thousand packets a second, netlink.Conn.Receive (a peek, then
// a new buffer and messages every call) left the reader behind the
// kernel, which then dropped half of the records.
func (src *Source) Run(ctx context.Context, s *Stream) error {
	defer src.c.Close()
	stop := context.AfterFunc(ctx, func() { src.c.Close() })
	defer stop()
	rc, err := src.c.SyscallConn()
	if err != nil {
		return fmt.Errorf("read nflog group %d: %w", src.group, err)
	}
	r := newReader(s, src.log, src.slice)
	buf := make([]byte, recvBuffer)
	for {
		n, err := recv(rc, buf)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, unix.ENOBUFS): // counted by the sequence gap
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("read nflog group %d: %w", src.group, err)
		}
		r.batch(buf[:n], time.Now())
	}
}

// recvBuffer holds the largest batch: the kernel builds batches within
// the group's buffer size (cfgNLBufSize). A longer one would be cut, and
// its lost records counted by the sequence gap.
const recvBuffer = 256 << 10

// recv reads one datagram (one batch of records) into buf, waiting for
// it through the runtime's poller.
func recv(rc syscall.RawConn, buf []byte) (n int, err error) {
	rerr := rc.Read(func(fd uintptr) bool {
		n, err = unix.Read(int(fd), buf)
		return !errors.Is(err, unix.EAGAIN)
	})
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}

// Close releases the group, ending Run.
func (src *Source) Close() error { return src.c.Close() }

// dial opens a netfilter netlink socket and binds it to the group.
func dial(cfg Config) (*netlink.Conn, error) {
	var nc netlink.Config
	if cfg.NetNS != "" {
		f, err := os.Open(cfg.NetNS)
		if err != nil {
			return nil, fmt.Errorf("open netns: %w", err)
		}
		defer f.Close()
		nc.NetNS = int(f.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &nc)
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	size := cfg.ReadBuffer
	if size <= 0 {
		size = DefaultReadBuffer
	}
	if err := setReadBuffer(c, size); err != nil {
		c.Close()
		return nil, fmt.Errorf("size nflog buffer: %w", err)
	}
	// A group left bound by a crashed listener is taken over.
	config(c, cfg.Group, attr(cfgCmd, []byte{cmdUnbind}))
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	for _, a := range [][]byte{
		attr(cfgCmd, []byte{cmdBind}),
		attr(cfgMode, append(be32(copyRange), copyPacket, 0)),
		attr(cfgTimeout, be32(batchTimeout)),
		attr(cfgQThresh, be32(batchThreshold)),
		attr(cfgNLBufSize, be32(batchBytes)),
		attr(cfgFlags, []byte{0, flagSeq}),
	} {
		if err := config(c, cfg.Group, a); err != nil {
			c.Close()
			return nil, fmt.Errorf("configure nflog group %d: %w", cfg.Group, err)
		}
	}
	return c, nil
}

// setReadBuffer sizes c's receive buffer, beyond net.core.rmem_max since
// the node runs as root (SO_RCVBUFFORCE), or within it otherwise.
func setReadBuffer(c *netlink.Conn, size int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(size)
	}
	return nil
}

// config sends one NFULNL_MSG_CONFIG with one attribute and waits for
// the kernel's acknowledgement.
func config(c *netlink.Conn, group uint16, a []byte) error {
	data := append([]byte{unix.AF_UNSPEC, 0, byte(group >> 8), byte(group)}, a...)
	_, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysULOG<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge},
		Data: data,
	})
	return err
}

// attr encodes one netlink attribute.
func attr(typ uint16, v []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

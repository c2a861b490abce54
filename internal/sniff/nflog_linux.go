package sniff

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
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
}

// nfnetlink_log constants (linux/netfilter/nfnetlink_log.h).
const (
	subsysULOG     = 4 // NFNL_SUBSYS_ULOG
	msgPacket      = 0 // NFULNL_MSG_PACKET
	msgConfig      = 1 // NFULNL_MSG_CONFIG
	cfgCmd         = 1 // NFULA_CFG_CMD
	cfgMode        = 2 // NFULA_CFG_MODE
	cfgNLBufSize   = 3 // NFULA_CFG_NLBUFSIZ
	cfgTimeout     = 4 // NFULA_CFG_TIMEOUT, in 1/100 s
	cfgQThresh     = 5 // NFULA_CFG_QTHRESH
	cfgFlags       = 6 // NFULA_CFG_FLAGS
	cmdBind        = 1 // NFULNL_CFG_CMD_BIND
	cmdUnbind      = 2 // NFULNL_CFG_CMD_UNBIND
	copyPacket     = 2 // NFULNL_COPY_PACKET
	flagSeq        = 1 // NFULNL_CFG_F_SEQ
	attrPayload    = 9
	attrPrefix     = 10
	attrSeq        = 13
	attrTimestamp  = 3
	copyRange      = 128 // the headers
	batchTimeout   = 10  // flush a partial batch after 100 ms
	batchThreshold = 16  // or at 16 packets
)

// Source is a bound NFLOG group: from Open on, the kernel queues the
// group's records for it.
type Source struct {
	c     *netlink.Conn
	group uint16
	log   *slog.Logger
}

// Open binds the NFLOG group of cfg. Only one listener may bind a group
// in a namespace; Open takes it over from one that died.
func Open(cfg Config) (*Source, error) {
	if cfg.Group == 0 {
		return nil, errors.New("sniff: no NFLOG group")
	}
	src := &Source{group: cfg.Group, log: cfg.Log}
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
// closes the source.
func (src *Source) Run(ctx context.Context, s *Stream) error {
	defer src.c.Close()
	stop := context.AfterFunc(ctx, func() { src.c.Close() })
	defer stop()
	r := reader{s: s, log: src.log}
	for {
		msgs, err := src.c.Receive()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, unix.ENOBUFS): // counted by the sequence gap
			continue
		case errors.Is(err, os.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("read nflog group %d: %w", src.group, err)
		}
		for _, m := range msgs {
			r.message(m)
		}
	}
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
	if err := c.SetReadBuffer(4 << 20); err != nil {
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
		attr(cfgNLBufSize, be32(64<<10)),
		attr(cfgFlags, []byte{0, flagSeq}),
	} {
		if err := config(c, cfg.Group, a); err != nil {
			c.Close()
			return nil, fmt.Errorf("configure nflog group %d: %w", cfg.Group, err)
		}
	}
	return c, nil
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

// reader turns log records into packets and counts sequence gaps.
type reader struct {
	s       *Stream
	log     *slog.Logger
	seq     uint32
	haveSeq bool
}

func (r *reader) message(m netlink.Message) {
	if m.Header.Type != netlink.HeaderType(subsysULOG<<8|msgPacket) || len(m.Data) < 4 {
		return
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return
	}
	p := Packet{Time: time.Now()}
	var payload []byte
	for ad.Next() {
		switch ad.Type() {
		case attrPayload:
			payload = ad.Bytes()
		case attrPrefix:
			p.Slice = strings.TrimRight(string(ad.Bytes()), "\x00")
		case attrSeq:
			r.sequence(binary.BigEndian.Uint32(ad.Bytes()))
		case attrTimestamp:
			if b := ad.Bytes(); len(b) == 16 {
				p.Time = time.Unix(int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))*1000)
			}
		}
	}
	if parse(payload, &p) {
		r.s.Publish(p)
	}
}

// sequence counts the records missing before seq.
func (r *reader) sequence(seq uint32) {
	if r.haveSeq && seq != r.seq+1 {
		gap := seq - r.seq - 1
		r.s.kernelDropped.Add(uint64(gap))
		r.log.Warn("sniffer stream: the kernel dropped packets", "dropped", gap)
	}
	r.seq, r.haveSeq = seq, true
}

package rawfd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Server answers the raw socket() calls of the node's slivers.
type Server struct {
	cfg   Config
	w     *worker
	nft   *table
	addrs *addrWatch
	// pkt and egress confine packet sockets; nil where the kernel
	// lacks what they need: packet socket() then fails with EPERM.
	pkt     *pktFilter
	pktMu   sync.Mutex // guards pkt's programs
	egress  *egressTable
	pktDone chan struct{} // closed to stop following the devices
	pktWG   sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu sync.Mutex
	// mu guards the following.
	slices map[string]*sliceState // by slice name
	closed bool
}

// sliceState is one slice's listeners and what the table holds for it.
type sliceState struct {
	Slice
	listeners int
	ports     map[Port]bool   // in the table now
	claims    map[Port]func() // with Config.Claim: the release of each claim
	// rings are the receive rings' bytes of its packet sockets, by
	// socket inode (Config.MaxPacketRing bounds their sum).
	rings map[uint64]int

	// syncing orders the slice's syncs and guards bound and pending.
	syncing sync.Mutex
	// bound are the ports its own sockets held at the last sync
	// (BoundPorts).
	bound map[Port]bool
	// pending: the last sync failed, or left out a port Config.Ports
	// said the slice holds.
	pending bool
}

// New installs the table (replacing one left by an earlier run) and starts
// keeping its ports in step.
func New(cfg Config) (*Server, error) {
	if cfg.Claim == nil && cfg.Ports != nil && cfg.Log != nil {
		cfg.Log.Warn("no port manager to claim ports: slivers' raw and packet sockets carry ICMP only, no TCP or UDP port")
	}
	cfg.defaults()
	w, err := startWorker(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, w: w, nft: &table{name: cfg.Table, w: w, owner: cfg.Claim != nil}, slices: map[string]*sliceState{}}
	if err := s.nft.dial(cfg.NetNS); err != nil {
		w.stop()
		return nil, err
	}
	if err := s.nft.install(); err != nil {
		s.nft.hangup()
		w.stop()
		return nil, err
	}
	// Packet sockets first: their filter's local map follows the
	// addresses too.
	s.openPackets()
	if s.addrs, err = watchAddrs(s.nft, w, s.pkt, cfg.Log); err != nil {
		s.closePackets()
		s.nft.hangup()
		w.stop()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.syncLoop()
	return s, nil
}

// Serve answers the raw socket() calls that reach listener (a sliver's
// seccomp listener, sandbox.Config.RawSockets) for slice, until the
// sliver has no process left or the Server closes. It takes listener over.
func (s *Server) Serve(slice Slice, f *os.File) {
	l, err := newListener(f)
	if err != nil {
		s.cfg.Log.Error("raw sockets", "slice", slice.Name, "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.close()
		return
	}
	st := s.slices[slice.Name]
	if st == nil {
		// The table learns the slice first: its raw sockets' echo
		// flows are then its own.
		if err := s.nft.setSlice(slice.Index, true); err != nil {
			s.mu.Unlock()
			l.close()
			s.cfg.Log.Error("raw sockets", "slice", slice.Name, "err", err)
			return
		}
		st = &sliceState{Slice: slice, ports: map[Port]bool{}, claims: map[Port]func(){}, rings: map[uint64]int{}}
		s.slices[slice.Name] = st
	}
	st.Slice = slice
	st.listeners++
	// Added while not closed, under mu: Close then waits for this
	// sync and the serving below, which use the worker it stops.
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		// Here, not in the sliver's start, which this would slow down:
		// its first raw socket() waits for the sync anyway.
		s.syncSlice(slice.Name)
		// Close wakes the loop up; it ends by itself when the sliver's
		// last process exits.
		stop := context.AfterFunc(s.ctx, func() { l.f.SetReadDeadline(time.Unix(1, 0)) })
		s.serve(slice, l)
		stop()
		l.close()
		s.release(slice.Name)
	}()
}

// release forgets one listener of the slice, and the slice's ports in
// the table with its last.
func (s *Server) release(name string) {
	s.mu.Lock()
	st := s.slices[name]
	st.listeners--
	last := st.listeners == 0
	if last {
		delete(s.slices, name)
		if err := s.nft.setSlice(st.Index, false); err != nil {
			s.cfg.Log.Error("raw sockets: remove slice", "slice", name, "err", err)
		}
	}
	if last && len(st.ports) > 0 {
		if err := s.nft.setPorts(RawMark(st.Index), st.ports, nil); err != nil {
			s.cfg.Log.Error("raw sockets: remove ports", "slice", name, "err", err)
		}
	}
	if last {
		s.unclaimLocked(st, nil)
		s.forgetPackets(st)
	}
	s.mu.Unlock()
}

func (s *Server) serve(slice Slice, l *listener) {
	log := s.cfg.Log.With("slice", slice.Name)
	pace := newPacer(s.cfg.CallsPerSec)
	sp := &spare{fd: -1}
	defer sp.drop()
	for {
		if !pace.wait(s.ctx) {
			return
		}
		n, err := l.recv()
		if err != nil {
			if !errors.Is(err, errHangup) && s.ctx.Err() == nil {
				log.Error("raw sockets: stop answering", "err", err)
			}
			return
		}
		if n.Nr == unix.SYS_SETSOCKOPT && int32(n.Args[1]) == unix.SOL_PACKET {
			err = s.answerPacketOpt(slice, l, &n)
		} else if n.Nr == unix.SYS_SETSOCKOPT {
			err = s.answerSetsockopt(slice, l, &n)
		} else {
			err = s.answer(slice, l, &n, sp)
		}
		if err != nil {
			log.Debug("raw socket refused", "pid", n.Pid, "err", err)
		}
	}
}

// answer makes the socket the notification asks for and installs it, or
// fails the call with the reason's errno. A call interrupted by a signal
// while its socket was made restarts as a new notification: it gets the
// socket kept for it in sp.
func (s *Server) answer(slice Slice, l *listener, n *notif, sp *spare) error {
	fd := sp.take(n)
	if fd < 0 {
		var err error
		if fd, err = s.create(slice, n); err != nil {
			return l.refuse(n.ID, err)
		}
		// A tool often binds the port it will send from just before it
		// opens its raw socket: let the table hold it from the first
		// packet.
		s.syncIfBound(slice.Name)
	}
	// The caller may have left the call while the socket was made:
	// killed, or interrupted by a signal, after which it calls again.
	if !l.valid(n.ID) {
		sp.keep(n, fd)
		return errors.New("caller left the call")
	}
	err := l.install(n.ID, fd, n.Args[1]&unix.SOCK_CLOEXEC != 0)
	if errors.Is(err, unix.ENOENT) { // it left just now
		sp.keep(n, fd)
		return fmt.Errorf("install socket: %w", err)
	}
	unix.Close(fd)
	if err != nil {
		// A failed install (EMFILE: the caller's descriptor table is
		// full) leaves the call waiting: answer it with the errno.
		return l.refuse(n.ID, fmt.Errorf("install socket: %w", err))
	}
	return nil
}

// spareFor is how long a socket made for a call its caller left is kept
// for the same call made again.
const spareFor = time.Second

// spare is the socket made for the last raw socket() call whose caller
// left it before it was installed. On kernels before 5.19 any signal
// ends the wait for the answer and the call starts again once the
// handler returns (a Go program's runtime signals it every 10 ms): the
// same process making the same call soon after gets this socket at once,
// so an answer slower than the signals still arrives. One per listener,
// closed spareFor after it was kept if no call took it (a caller killed
// meanwhile never calls again).
type spare struct {
	mu sync.Mutex
	// mu guards the following.
	fd    int // -1: none
	pid   uint32
	args  [3]uint64 // domain, type, protocol
	timer *time.Timer
}

// keep holds fd, made for n, for the same call made again.
func (sp *spare) keep(n *notif, fd int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.dropLocked()
	sp.fd, sp.pid, sp.args = fd, n.Pid, [3]uint64{n.Args[0], n.Args[1], n.Args[2]}
	sp.timer = time.AfterFunc(spareFor, func() {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if sp.fd == fd {
			sp.dropLocked()
		}
	})
}

// take returns the socket kept for n's call, or -1; any other is closed.
func (sp *spare) take(n *notif) int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.fd < 0 {
		return -1
	}
	if sp.pid != n.Pid || sp.args != [3]uint64{n.Args[0], n.Args[1], n.Args[2]} {
		sp.dropLocked()
		return -1
	}
	fd := sp.fd
	sp.fd = -1
	sp.timer.Stop()
	return fd
}

func (sp *spare) drop() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.dropLocked()
}

func (sp *spare) dropLocked() {
	if sp.fd >= 0 {
		unix.Close(sp.fd)
		sp.fd = -1
		sp.timer.Stop()
	}
}

// create checks the call and makes its socket.
func (s *Server) create(slice Slice, n *notif) (int, error) {
	domain, typ, proto := int(int32(n.Args[0])), int(int32(n.Args[1])), int(int32(n.Args[2]))
	switch {
	case n.Arch != auditArch || n.Nr != unix.SYS_SOCKET:
		return -1, fmt.Errorf("not socket(): %w", unix.EPERM)
	case domain == unix.AF_PACKET:
		return s.createPacket(slice, typ, proto)
	case domain != unix.AF_INET && domain != unix.AF_INET6, typ&0xf != unix.SOCK_RAW:
		return -1, fmt.Errorf("not a raw socket: %w", unix.EPERM)
	case typ&^(0xf|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0:
		return -1, fmt.Errorf("socket type %#x: %w", typ, unix.EINVAL)
	}
	fd, err := s.socketFor(slice, domain, unix.SOCK_RAW|typ&unix.SOCK_NONBLOCK, proto)
	if err != nil {
		return -1, err
	}
	if err := confine(fd, slice.Index); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// confine marks the socket as the slice's raw socket and locks its
// receive filter.
func confine(fd int, index uint32) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(RawMark(index))); err != nil {
		return fmt.Errorf("raw socket: SO_MARK: %w", err)
	}
	prog := recvFilter(recvMark(index))
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("raw socket: SO_ATTACH_FILTER: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1); err != nil {
		return fmt.Errorf("raw socket: SO_LOCK_FILTER: %w", err)
	}
	return nil
}

// recvFilter admits the packets whose mark is mark, whole, and no other.
func recvFilter(mark uint32) []unix.SockFilter {
	const skfAdMark = 0xfffff000 + 20 // SKF_AD_OFF + SKF_AD_MARK
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdMark},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: mark, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

// socketFor makes a close-on-exec socket owned by the slice, within
// Config.MaxPerSlice of its raw and packet sockets and, for a packet
// socket (domain AF_PACKET), Config.MaxPacketPerSlice of those.
func (s *Server) socketFor(slice Slice, domain, typ, proto int) (fd int, err error) {
	s.w.do(func() {
		var h held
		if h, err = heldBy(slice.UIDBase, slice.UIDCount); err != nil {
			return
		}
		switch {
		case h.all >= s.cfg.MaxPerSlice:
			err = fmt.Errorf("slice holds %d raw and packet sockets, the most it may: %w", h.all, unix.EMFILE)
			return
		case domain == unix.AF_PACKET && len(h.packet) >= s.cfg.MaxPacketPerSlice:
			err = fmt.Errorf("slice holds %d packet sockets, the most it may: %w", len(h.packet), unix.EMFILE)
			return
		}
		fd, err = socketAs(slice.UIDBase, domain, typ|unix.SOCK_CLOEXEC, proto)
	})
	return fd, err
}

// socketAs makes a socket owned by uid: its owner (sk_uid, meta skuid)
// is the creating thread's fsuid. Call it on the worker's thread only.
func socketAs(uid uint32, domain, typ, proto int) (int, error) {
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
	defer unix.RawSyscall(unix.SYS_SETFSUID, 0, 0, 0)
	fd, err := unix.Socket(domain, typ, proto)
	if err != nil {
		return -1, fmt.Errorf("socket(%d, %#x, %d): %w", domain, typ, proto, err)
	}
	return fd, nil
}

// held is what heldBy finds a slice holds.
type held struct {
	all    int             // raw and packet sockets
	packet map[uint64]bool // the inodes of its packet sockets
}

// heldBy finds the raw and packet sockets owned by UIDs in [base,
// base+count) in the calling thread's network namespace.
func heldBy(base, count uint32) (held, error) {
	h := held{packet: map[uint64]bool{}}
	for _, name := range []string{"raw", "raw6", "packet"} {
		f, err := os.Open("/proc/thread-self/net/" + name)
		if errors.Is(err, os.ErrNotExist) && name == "packet" {
			continue // no packet sockets in this kernel
		}
		if err != nil {
			return held{}, fmt.Errorf("count raw sockets: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// packet: sk RefCnt Type Proto Iface R Rmem User Inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 9 {
				continue
			}
			uid, err := strconv.ParseUint(fields[7], 10, 32)
			if err != nil || uint32(uid) < base || uint64(uid) >= uint64(base)+uint64(count) {
				continue
			}
			h.all++
			if name == "packet" {
				ino, _ := strconv.ParseUint(fields[8], 10, 64)
				h.packet[ino] = true
			}
		}
		f.Close()
	}
	return h, nil
}

// Close stops answering: the slivers' raw socket() calls then wait for
// the next Server (their inits keep the listeners, sandbox.RawListener).
// The table stays, so that the raw sockets slivers hold stay
// confined while no agent runs (the next New replaces it in one
// transaction); with removeTable it goes too, for a node that leaves
// nothing behind.
func (s *Server) Close(removeTable bool) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.addrs.stop()
	s.stopPackets()
	var err error
	if removeTable {
		err = s.nft.remove()
		if s.egress != nil {
			err = errors.Join(err, s.egress.remove())
		}
	}
	if s.pkt != nil {
		s.pkt.close()
	}
	s.nft.hangup()
	s.w.stop()
	return err
}

// worker is one OS thread in the network namespace the sockets are made
// in, which also runs nft there.
type worker struct {
	reqs chan func()
}

func startWorker(netns string) (*worker, error) {
	w := &worker{reqs: make(chan func())}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread may have changed namespace, and it
		// ends with the goroutine.
		runtime.LockOSThread()
		if netns != "" {
			fd, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				err = unix.Setns(fd, unix.CLONE_NEWNET)
				unix.Close(fd)
			}
			if err != nil {
				errc <- fmt.Errorf("raw sockets: enter netns %s: %w", netns, err)
				return
			}
		}
		errc <- nil
		for f := range w.reqs {
			f()
		}
	}()
	return w, <-errc
}

// do runs f on the worker's thread.
func (w *worker) do(f func()) {
	done := make(chan struct{})
	w.reqs <- func() { f(); close(done) }
	<-done
}

func (w *worker) stop() { close(w.reqs) }

// auditArch is the native AUDIT_ARCH of a notification's system call.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]

// pacer lets through rate events a second, after a burst of as many
// (GCRA: tat is when the next event would be due at the steady rate).
type pacer struct {
	every time.Duration
	burst time.Duration
	tat   time.Time
}

func newPacer(rate int) *pacer {
	every := time.Second / time.Duration(rate)
	return &pacer{every: every, burst: every * time.Duration(rate)}
}

// wait waits for the next event's turn; false if ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	now := time.Now()
	if p.tat.Before(now) {
		p.tat = now
	}
	d := p.tat.Sub(now) - p.burst
	p.tat = p.tat.Add(p.every)
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

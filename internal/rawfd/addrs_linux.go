package rawfd

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The table checks a raw socket's source address against its sets local4
// and local6, one hash lookup a packet, where a fib lookup (`fib saddr
// type local`) cost a route lookup a packet. addrWatch keeps the sets
// equal to the addresses of the worker's network namespace: it listens to
// the kernel's address events and, on each, reads the whole list again
// and applies the difference. Until it has read the list the sets are
// empty and raw sockets send nothing; an address the node drops leaves
// the sets within the time the event takes to arrive; when the events
// fail (the socket's buffer overflowed), the sets are emptied until the
// list is read again, so that they never hold an address the node no
// longer has for longer than that. While no agent runs (Server.Close
// leaves the table) the sets keep the addresses they had.

// addrWatch keeps the table's address sets in step.
type addrWatch struct {
	t    *table
	w    *worker
	log  *slog.Logger
	h    *netlink.Handle // in the worker's namespace
	pkt  *pktFilter      // its local map follows the sets too; may be nil
	done chan struct{}
	wg   sync.WaitGroup

	// have is what the sets hold; the watcher's goroutine alone uses it
	// once started.
	have map[netip.Addr]bool
}

// watchAddrs fills the table's address sets and keeps them in step until
// stop.
func watchAddrs(t *table, w *worker, pkt *pktFilter, log *slog.Logger) (*addrWatch, error) {
	a := &addrWatch{t: t, w: w, pkt: pkt, log: log, done: make(chan struct{})}
	var err error
	w.do(func() { a.h, err = netlink.NewHandle(unix.NETLINK_ROUTE) })
	if err != nil {
		return nil, fmt.Errorf("raw sockets: addresses: %w", err)
	}
	sub, err := a.subscribe()
	if err != nil {
		a.h.Close()
		return nil, err
	}
	if err := a.sync(); err != nil {
		sub.end()
		a.h.Close()
		return nil, err
	}
	a.wg.Add(1)
	go a.loop(sub)
	return a, nil
}

// subscription is one subscription to the address events of the worker's
// namespace; its channel closes when it fails or ends.
type subscription struct {
	events chan netlink.AddrUpdate
	cancel chan struct{}
}

func (a *addrWatch) subscribe() (*subscription, error) {
	sub := &subscription{events: make(chan netlink.AddrUpdate, 64), cancel: make(chan struct{})}
	var err error
	// Its socket is made on the worker's thread, in its namespace.
	a.w.do(func() {
		err = netlink.AddrSubscribeWithOptions(sub.events, sub.cancel, netlink.AddrSubscribeOptions{})
	})
	if err != nil {
		return nil, fmt.Errorf("raw sockets: address events: %w", err)
	}
	return sub, nil
}

// end closes the subscription's socket and waits for its reader.
func (sub *subscription) end() {
	close(sub.cancel)
	for range sub.events {
	}
}

func (a *addrWatch) loop(sub *subscription) {
	defer a.wg.Done()
	for {
		select {
		case <-a.done:
			sub.end()
			return
		case _, ok := <-sub.events:
			if !ok {
				// Events were lost: hold no address until the list is
				// read again under a fresh subscription.
				sub.end()
				if err := a.apply(nil); err != nil {
					a.log.Error("raw sockets: empty the address sets", "err", err)
				}
				var err error
				if sub, err = a.subscribe(); err != nil {
					a.log.Error("raw sockets: raw sockets send nothing", "err", err)
					return
				}
			}
			// The events queued meanwhile: one reading covers them.
			for drained := false; !drained; {
				select {
				case <-sub.events:
				default:
					drained = true
				}
			}
		}
		if err := a.sync(); err != nil {
			a.log.Error("raw sockets: addresses", "err", err)
		}
	}
}

// sync reads the namespace's addresses and sets the sets to them; when
// the list cannot be read the sets are emptied.
func (a *addrWatch) sync() error {
	list, err := a.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		if aerr := a.apply(nil); aerr != nil {
			return fmt.Errorf("raw sockets: list addresses: %w (and empty the sets: %v)", err, aerr)
		}
		return fmt.Errorf("raw sockets: list addresses: %w", err)
	}
	want := map[netip.Addr]bool{}
	for _, l := range list {
		if ip, ok := netip.AddrFromSlice(l.IP); ok {
			want[ip.Unmap()] = true
		}
	}
	return a.apply(want)
}

// apply changes the sets from what they hold to want, in one transaction,
// and the packet sockets' local map.
func (a *addrWatch) apply(want map[netip.Addr]bool) error {
	var perr error
	if a.pkt != nil {
		perr = a.pkt.setAddrs(want)
	}
	return errors.Join(perr, a.applySets(want))
}

// applySets changes the sets from what they hold to want, in one
// transaction.
func (a *addrWatch) applySets(want map[netip.Addr]bool) error {
	var add, del [2][]nftables.SetElement // IPv4, IPv6
	elem := func(ip netip.Addr) (int, nftables.SetElement) {
		if ip.Is4() {
			b := ip.As4()
			return 0, nftables.SetElement{Key: b[:]}
		}
		b := ip.As16()
		return 1, nftables.SetElement{Key: b[:]}
	}
	for ip := range a.have {
		if !want[ip] {
			i, e := elem(ip)
			del[i] = append(del[i], e)
		}
	}
	for ip := range want {
		if !a.have[ip] {
			i, e := elem(ip)
			add[i] = append(add[i], e)
		}
	}
	if len(add[0])+len(add[1])+len(del[0])+len(del[1]) == 0 {
		return nil
	}
	err := a.t.change(func(c *nftables.Conn) error {
		for i, name := range []string{"local4", "local6"} {
			if len(del[i]) > 0 {
				if err := c.SetDeleteElements(a.t.set(name), del[i]); err != nil {
					return err
				}
			}
			if len(add[i]) > 0 {
				if err := c.SetAddElements(a.t.set(name), add[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.have = want
	return nil
}

// stop ends the watch; the sets keep their addresses.
func (a *addrWatch) stop() {
	close(a.done)
	a.wg.Wait()
	a.h.Close()
}

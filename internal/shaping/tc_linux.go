package shaping

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// tc is the kernel seam: what the Shaper asks of the traffic-control layer.
type tc interface {
	// init installs the root qdisc (default class 1:2) and the given
	// root and node classes. It adopts a root qdisc of ours that an
	// earlier run left on the device, with its classes, whose minors it
	// returns; it replaces any other root qdisc.
	init(base []class) (found []uint16, err error)
	setClass(c class) error
	delClass(minor uint16) error
	deleteRoot() error
	close()
}

// kernelTC talks rtnetlink for one device.
type kernelTC struct {
	h    *netlink.Handle
	link int // ifindex
}

func newKernelTC(dev, nsPath string) (*kernelTC, error) {
	var h *netlink.Handle
	var err error
	if nsPath == "" {
		h, err = netlink.NewHandle()
	} else {
		var ns netns.NsHandle
		if ns, err = netns.GetFromPath(nsPath); err != nil {
			return nil, fmt.Errorf("open network namespace: %w", err)
		}
		defer ns.Close()
		h, err = netlink.NewHandleAt(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	l, err := h.LinkByName(dev)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("find device %s: %w", dev, err)
	}
	return &kernelTC{h: h, link: l.Attrs().Index}, nil
}

func (k *kernelTC) rootQdisc() *netlink.Htb {
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: k.link, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	q.Defcls = nodeMinor
	return q
}

func (k *kernelTC) init(base []class) ([]uint16, error) {
	found, err := k.installRoot()
	if err != nil {
		return nil, err
	}
	for _, c := range base {
		if err := k.setClass(c); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// installRoot keeps a root qdisc of ours (htb 1: with default class 1:2,
// left by an agent that exited or crashed while slivers ran) and returns
// its classes' minors; the kernel cannot change an htb qdisc in place. Any
// other root qdisc is replaced.
func (k *kernelTC) installRoot() ([]uint16, error) {
	qs, err := k.h.QdiscList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: k.link}})
	if err != nil {
		return nil, fmt.Errorf("list qdiscs: %w", err)
	}
	want := k.rootQdisc()
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT || a.Handle != want.Handle {
			continue
		}
		if h, ok := q.(*netlink.Htb); ok && h.Defcls == want.Defcls {
			return k.classMinors()
		}
		// Ours in name only: a replace would change it in place, which
		// the kernel refuses for a qdisc of another kind or setting.
		if err := k.h.QdiscDel(q); err != nil {
			return nil, fmt.Errorf("remove root qdisc %s: %w", q.Type(), err)
		}
	}
	if err := k.h.QdiscReplace(want); err != nil {
		return nil, fmt.Errorf("install htb qdisc: %w", err)
	}
	return nil, nil
}

// classMinors lists the minors of the classes of the root qdisc.
func (k *kernelTC) classMinors() ([]uint16, error) {
	cs, err := k.h.ClassList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: k.link}}, 0)
	if err != nil {
		return nil, fmt.Errorf("list classes: %w", err)
	}
	var out []uint16
	for _, c := range cs {
		if maj, minor := netlink.MajorMinor(c.Attrs().Handle); maj == 1 {
			out = append(out, minor)
		}
	}
	return out, nil
}

func (k *kernelTC) htbClass(c class) *netlink.HtbClass {
	parent := uint32(netlink.MakeHandle(1, 0))
	if c.parent != 0 {
		parent = netlink.MakeHandle(1, c.parent)
	}
	return netlink.NewHtbClass(
		netlink.ClassAttrs{LinkIndex: k.link, Parent: parent, Handle: netlink.MakeHandle(1, c.minor)},
		netlink.HtbClassAttrs{Rate: uint64(c.rate) * 1000, Ceil: uint64(c.ceil) * 1000, Quantum: c.quantum})
}

func (k *kernelTC) setClass(c class) error {
	if err := k.h.ClassReplace(k.htbClass(c)); err != nil {
		return fmt.Errorf("set %s: %w", c, err)
	}
	return nil
}

func (k *kernelTC) delClass(minor uint16) error {
	c := k.htbClass(class{minor: minor, parent: rootMinor, rate: 1, ceil: 1})
	if err := k.h.ClassDel(c); err != nil {
		return fmt.Errorf("delete class 1:%x: %w", minor, err)
	}
	return nil
}

func (k *kernelTC) deleteRoot() error { return k.h.QdiscDel(k.rootQdisc()) }

func (k *kernelTC) close() { k.h.Close() }

package shaping

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// tc is the kernel seam: what the Shaper asks of the traffic-control layer.
type tc interface {
	// init installs the root qdisc (default class 1:2) and the given
	// root and node classes.
	init(base []class) error
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

func (k *kernelTC) init(base []class) error {
	if err := k.h.QdiscReplace(k.rootQdisc()); err != nil {
		return fmt.Errorf("install htb qdisc: %w", err)
	}
	for _, c := range base {
		if err := k.setClass(c); err != nil {
			return err
		}
	}
	return nil
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

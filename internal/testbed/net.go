package testbed

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// checkFree refuses to build a testbed whose bridge already exists or
// whose subnet overlaps an address of the host, so that a testbed never
// takes over a network it did not make.
func (c *Config) checkFree() error {
	if _, err := netlink.LinkByName(c.bridge()); err == nil {
		return fmt.Errorf("link %s already exists: the testbed in %q uses prefix %q (`orbis testbed down --dir` it, or use another --prefix)",
			c.bridge(), c.bridgeOwner(), c.Prefix)
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		p, ok := netipPrefix(a.IPNet)
		if ok && p.Overlaps(c.Subnet) {
			return fmt.Errorf("subnet %s overlaps %s on this host: choose another --subnet", c.Subnet, p)
		}
	}
	return nil
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits).Masked(), true
}

// addBridge creates the testbed's bridge with the host's address on it.
func (c *Config) addBridge() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: c.bridge()}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge %s: %w", c.bridge(), err)
	}
	addr := &netlink.Addr{IPNet: ipNet(c.hostAddr(), c.Subnet.Bits())}
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("address bridge %s: %w", c.bridge(), err)
	}
	if err := netlink.LinkSetAlias(br, aliasPrefix+c.Dir); err != nil {
		return fmt.Errorf("name the owner of bridge %s: %w", c.bridge(), err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", c.bridge(), err)
	}
	return nil
}

// aliasPrefix starts the alias of a testbed's bridge, which names the
// testbed's directory, so that a sweep by prefix can tell whose it is.
const aliasPrefix = "orbis-testbed:"

// bridgeOwner returns the directory of the testbed whose bridge has the
// prefix, or "" if there is no such bridge or it names none.
func (c *Config) bridgeOwner() string {
	l, err := netlink.LinkByName(c.bridge())
	if err != nil {
		return ""
	}
	dir, _ := strings.CutPrefix(l.Attrs().Alias, aliasPrefix)
	return dir
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// addNode makes node i's network: its namespace, a veth from the bridge
// to eth0 inside with the node's address, lo up, and a default route via
// the host.
func (c *Config) addNode(i int) error {
	if err := createNetns(c.netnsPath(i)); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(c.netnsPath(i))
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer ns.Close()
	br, err := netlink.LinkByName(c.bridge())
	if err != nil {
		return fmt.Errorf("find bridge: %w", err)
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: c.veth(i), MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", c.veth(i), err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("bring up veth %s: %w", c.veth(i), err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	addr, _ := c.nodeAddr(i)
	return c.configureInside(h, addr)
}

// configureInside sets up lo and eth0 inside a node's namespace.
func (c *Config) configureInside(h *netlink.Handle, addr netip.Addr) error {
	for _, name := range []string{"lo", "eth0"} {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s in netns: %w", name, err)
		}
		if name == "eth0" {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr, c.Subnet.Bits())}); err != nil {
				return fmt.Errorf("address eth0: %w", err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring up %s: %w", name, err)
		}
	}
	eth0, _ := h.LinkByName("eth0")
	route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: c.hostAddr().AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("default route in netns: %w", err)
	}
	return nil
}

// createNetns makes a new network namespace and binds it at path, as `ip
// netns add` does, on a locked thread that then returns to the host's
// namespace (or, if it cannot, ends with its goroutine).
func createNetns(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- bindNewNetns(path)
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// bindNewNetns moves the locked calling thread into a new network
// namespace, binds it at path and moves the thread back, unlocking it
// only then.
func bindNewNetns(path string) error {
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("open host netns: %w", err)
	}
	defer host.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread() // still in the host's namespace
		return fmt.Errorf("unshare netns: %w", err)
	}
	err = unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
	if err != nil {
		err = fmt.Errorf("bind netns at %s: %w", path, err)
	}
	if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return err
}

// removeNetns unbinds and removes a named network namespace; the kernel
// frees it, and the veth end inside, once no process is left in it.
func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// ownedName matches prefix followed by digits only, so that a prefix
// never matches another prefix's objects (the prefix ends in a letter).
func ownedName(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && strconv.Itoa(n) == rest
}

// retryDump retries a netlink dump that the kernel interrupted because
// the list changed meanwhile (a namespace going away takes its veth).
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for range 10 {
		l, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return l, err
		}
	}
	return dump()
}

// ownedLinks returns the host's links that belong to the prefix.
func ownedLinks(prefix string) ([]netlink.Link, error) {
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range links {
		if _, ok := ownedName(l.Attrs().Name, prefix); ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// ownedNetns returns the paths of the named namespaces of the prefix.
func ownedNetns(prefix string) []string {
	ents, _ := os.ReadDir(NetnsDir)
	var out []string
	for _, e := range ents {
		if _, ok := ownedName(e.Name(), prefix+"-n"); ok {
			out = append(out, filepath.Join(NetnsDir, e.Name()))
		}
	}
	return out
}

// netnsPids returns the processes in the network namespace at path.
func netnsPids(path string) []int {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

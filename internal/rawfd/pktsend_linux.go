package rawfd

import (
	"fmt"
	"maps"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// packetMarkBase is the high half of every PacketMark.
const packetMarkBase = 0x4f540000

// PacketMark is the SO_MARK of the packet sockets of the sliver with this
// netfilter index. A frame sent on a packet socket skips netfilter's IP
// hooks and every check of the raw sockets' table; the mark is what
// drops it, on every device's egress hook (egressTable).
func PacketMark(index uint32) uint32 { return packetMarkBase | index&0xffff }

// egressTable is the nftables table (family netdev) that drops every frame
// sent on a sliver's packet socket, whichever device it is sent on: one
// base chain per device on its egress hook (Linux 5.16,
// CONFIG_NETFILTER_EGRESS), which runs on every frame a device transmits
// except those sent with PACKET_QDISC_BYPASS, an option the Server
// refuses. A sliver cannot change its socket's mark (SO_MARK and the
// SO_MARK control message need CAP_NET_ADMIN in the node's namespace).
//
// The chains follow the node's devices: the table is rewritten, in one
// transaction, when the devices change (on each link event, and checked
// at each packet socket() and every Config.SyncEvery). A device the node
// creates has no chain for the moment until its event is handled.
type egressTable struct {
	name string
	t    *table // runs nft in the worker's namespace

	mu   sync.Mutex
	devs map[int]string // ifindex -> name, as the table has them
}

// sync rewrites the table if the node's devices changed.
func (e *egressTable) sync() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ifs []net.Interface
	var err error
	e.t.w.do(func() { ifs, err = net.Interfaces() })
	if err != nil {
		return fmt.Errorf("packet sockets: devices: %w", err)
	}
	devs := map[int]string{}
	for _, ifi := range ifs {
		devs[ifi.Index] = ifi.Name
	}
	if e.devs != nil && maps.Equal(devs, e.devs) {
		return nil
	}
	if err := e.t.run(e.script(devs)); err != nil {
		// A device gone between the listing and nft: the next sync
		// tries again.
		return fmt.Errorf("packet sockets: nft table %s: %w", e.name, err)
	}
	e.devs = devs
	return nil
}

func (e *egressTable) script(devs map[int]string) string {
	idx := make([]int, 0, len(devs))
	for i := range devs {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "table netdev %s\ndelete table netdev %s\ntable netdev %s {\n", e.name, e.name, e.name)
	for _, i := range idx {
		// A device name holds no '/', ':' or white space; a quote in
		// it is escaped for nft's string.
		name := strings.ReplaceAll(strings.ReplaceAll(devs[i], `\`, `\\`), `"`, `\"`)
		fmt.Fprintf(&b, "\tchain e%d {\n\t\ttype filter hook egress device \"%s\" priority -500; policy accept;\n"+
			"\t\tmeta mark & 0xffff0000 == %#x drop\n\t}\n", i, name, packetMarkBase)
	}
	b.WriteString("}\n")
	return b.String()
}

// remove deletes the table.
func (e *egressTable) remove() error {
	if err := e.t.run(fmt.Sprintf("table netdev %s\ndelete table netdev %s\n", e.name, e.name)); err != nil {
		return fmt.Errorf("remove nft table %s: %w", e.name, err)
	}
	return nil
}

// watch syncs the table on every link event of the namespace netnsPath
// (the caller's if empty) until done is closed, in a goroutine wg
// counts; it returns once subscribed. Errors go to onErr.
func (e *egressTable) watch(netnsPath string, done <-chan struct{}, wg *sync.WaitGroup, onErr func(error)) error {
	var h netns.NsHandle
	var err error
	if netnsPath != "" {
		h, err = netns.GetFromPath(netnsPath)
	} else {
		h, err = netns.Get()
	}
	if err != nil {
		return fmt.Errorf("packet sockets: network namespace: %w", err)
	}
	defer h.Close()
	ch := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &h, ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("packet sockets: link events: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case _, ok := <-ch:
				if !ok {
					return
				}
			}
			// A burst of events needs one sync.
			for len(ch) > 0 {
				<-ch
			}
			if err := e.sync(); err != nil {
				onErr(err)
			}
		}
	}()
	return nil
}

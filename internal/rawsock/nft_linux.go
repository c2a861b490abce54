package rawsock

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// TableName is the nftables table (family inet) the service owns in its
// namespace: an input chain dropping the TCP and UDP packets to the local
// (address, port) pairs in its sets, those bound to safe raw sockets, so
// that the kernel's stack neither answers them (RST, port unreachable)
// nor delivers them. A binding's pairs are its own: the port on the
// addresses its slice holds it on, so the drop never touches another
// address's flows. The sockets' captures see these packets first:
// AF_PACKET taps run before netfilter's input hook.
const TableName = "orbis_rawsock"

// dropper keeps the table's sets of protocol . address . port, one for
// IPv4 and one for IPv6.
type dropper struct {
	nsfd  int
	table *nftables.Table
	sets  map[bool]*nftables.Set // by "is IPv6"
}

// newDropper replaces any table left by an earlier run with an empty one.
func newDropper(nsfd int) (*dropper, error) {
	d := &dropper{nsfd: nsfd, table: &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}}
	c, err := d.conn()
	if err != nil {
		return nil, err
	}
	if old, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err == nil && old != nil {
		c.DelTable(d.table)
		if err := c.Flush(); err != nil {
			return nil, fmt.Errorf("delete old nft table %s: %w", TableName, err)
		}
	}
	c.AddTable(d.table)
	chain := c.AddChain(&nftables.Chain{
		Name: "input", Table: d.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
	})
	d.sets = map[bool]*nftables.Set{}
	for _, v6 := range []bool{false, true} {
		addr, name := nftables.TypeIPAddr, "bound4"
		if v6 {
			addr, name = nftables.TypeIP6Addr, "bound6"
		}
		set := &nftables.Set{Table: d.table, Name: name, Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeInetProto, addr, nftables.TypeInetService)}
		if err := c.AddSet(set, nil); err != nil {
			return nil, fmt.Errorf("add nft set: %w", err)
		}
		d.sets[v6] = set
		c.AddRule(&nftables.Rule{Table: d.table, Chain: chain, Exprs: dropRule(v6, set)})
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("create nft table %s: %w", TableName, err)
	}
	return d, nil
}

// dropRule is `meta nfproto ipv4 meta l4proto . ip daddr . th dport
// @bound4 drop` (ipv6, ip6 daddr and @bound6 for v6), the concatenation
// in 32-bit registers as nft(8) loads it.
func dropRule(v6 bool, set *nftables.Set) []expr.Any {
	family, daddrOff, addrLen, portReg := unix.NFPROTO_IPV4, uint32(16), uint32(4), uint32(10)
	if v6 {
		family, daddrOff, addrLen, portReg = unix.NFPROTO_IPV6, 24, 16, 13
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(family)}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOff, Len: addrLen},
		&expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// dropKey is the set element of proto . addr . port, each field padded
// to 4 bytes.
func dropKey(proto uint8, addr netip.Addr, port uint16) []byte {
	key := append([]byte{proto, 0, 0, 0}, addr.AsSlice()...)
	return append(key, byte(port>>8), byte(port), 0, 0)
}

func (d *dropper) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if d.nsfd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(d.nsfd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// set adds (on) or removes the drop of b's port on each of addrs, in one
// transaction; ICMP bindings need none.
func (d *dropper) set(b Binding, addrs []netip.Addr, on bool) error {
	if b.Proto != wire.ProtoTCP && b.Proto != wire.ProtoUDP {
		return nil
	}
	c, err := d.conn()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		a = a.Unmap()
		elems := []nftables.SetElement{{Key: dropKey(b.Proto, a, b.Port)}}
		if on {
			err = c.SetAddElements(d.sets[a.Is6()], elems)
		} else {
			err = c.SetDeleteElements(d.sets[a.Is6()], elems)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		return fmt.Errorf("nft drop of %s on %v (on=%v): %w", b, addrs, on, err)
	}
	return nil
}

// Close deletes the table.
func (d *dropper) Close() error {
	c, err := d.conn()
	if err != nil {
		return err
	}
	c.DelTable(d.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nft table %s: %w", TableName, err)
	}
	return nil
}

package rawsock

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// TableName is the nftables table (family inet) the service owns in its
// namespace: an input chain dropping TCP and UDP packets to the ports in
// its sets, the ports bound to safe raw sockets, so that the kernel's
// stack neither answers them (RST, port unreachable) nor delivers them.
// The sockets' captures see these packets first: AF_PACKET taps run
// before netfilter's input hook.
const TableName = "orbis_rawsock"

// dropper keeps the table's port sets.
type dropper struct {
	nsfd  int
	table *nftables.Table
	sets  map[uint8]*nftables.Set
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
	d.sets = map[uint8]*nftables.Set{}
	for _, proto := range []uint8{wire.ProtoTCP, wire.ProtoUDP} {
		set := &nftables.Set{Table: d.table, Name: fmt.Sprintf("ports%d", proto), KeyType: nftables.TypeInetService}
		if err := c.AddSet(set, nil); err != nil {
			return nil, fmt.Errorf("add nft set: %w", err)
		}
		d.sets[proto] = set
		c.AddRule(&nftables.Rule{Table: d.table, Chain: chain, Exprs: dropRule(proto, set)})
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("create nft table %s: %w", TableName, err)
	}
	return d, nil
}

// dropRule is `meta l4proto <proto> th dport @<set> drop`.
func dropRule(proto uint8, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
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

// set adds (on) or removes the drop of b's port; ICMP bindings need none.
func (d *dropper) set(b Binding, on bool) error {
	set := d.sets[b.Proto]
	if set == nil {
		return nil
	}
	c, err := d.conn()
	if err != nil {
		return err
	}
	elems := []nftables.SetElement{{Key: binaryutil.BigEndian.PutUint16(b.Port)}}
	if on {
		err = c.SetAddElements(set, elems)
	} else {
		err = c.SetDeleteElements(set, elems)
	}
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		return fmt.Errorf("nft drop of %s (on=%v): %w", b, on, err)
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

package audit

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/orbisproject/orbis/api"
)

// RowsToAPI turns rows into their wire form, addresses unmapped.
func RowsToAPI(rows []Row) []api.TrafficRow {
	out := make([]api.TrafficRow, len(rows))
	for i, r := range rows {
		out[i] = api.TrafficRow{Minute: r.Minute.Unix(), Slice: r.Slice, Dst: r.Dst.Unmap().String(),
			Proto: r.Proto, DstPort: r.DstPort, TCPFlags: r.TCPFlags, Packets: r.Packets, Bytes: r.Bytes}
	}
	return out
}

// BatchID names a batch by its content, so that every retry of it, even
// from the spool after a restart, carries the same ID: a hash of the
// rows' wire form. Two batches with the same rows would be one; a node
// never closes the same minute twice, so they do not happen.
func BatchID(rows []Row) string {
	data, _ := json.Marshal(RowsToAPI(rows))
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ArchivedSum is what the archive holds of one slice's traffic from one
// node to one address with one protocol, port and set of TCP flags, over
// the minutes First to Last.
type ArchivedSum struct {
	Node, Slice    string
	Proto          uint8
	DstPort        uint16
	TCPFlags       uint8
	Packets, Bytes uint64
	First, Last    time.Time
}

// SumArchived folds sums into one SliceTraffic per node and slice, with
// the busiest ports, most packets first, at most maxQueryResults.
func SumArchived(sums []ArchivedSum) []SliceTraffic {
	type key struct{ node, slice string }
	out := map[key]*SliceTraffic{}
	ports := map[key]map[[2]uint16]uint64{}
	for _, s := range sums {
		k := key{s.Node, s.Slice}
		st := out[k]
		if st == nil {
			st = &SliceTraffic{Slice: s.Slice, Node: s.Node, First: s.First, Last: s.Last}
			out[k] = st
			ports[k] = map[[2]uint16]uint64{}
		}
		st.Packets += s.Packets
		st.Bytes += s.Bytes
		st.TCPFlags |= s.TCPFlags
		st.First, st.Last = minTime(st.First, s.First), maxTime(st.Last, s.Last)
		ports[k][[2]uint16{uint16(s.Proto), s.DstPort}] += s.Packets
	}
	list := make([]SliceTraffic, 0, len(out))
	for k, st := range out {
		st.Ports, _ = topPorts(ports[k])
		st.Ports = st.Ports[:min(len(st.Ports), maxPortsArchived)]
		list = append(list, *st)
	}
	slices.SortFunc(list, func(a, b SliceTraffic) int {
		return cmp.Or(cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Slice, b.Slice), cmp.Compare(a.Node, b.Node))
	})
	return list[:min(len(list), maxQueryResults)]
}

package push

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"

	"github.com/orbisproject/orbis/api"
)

// TrafficSource is what the traffic endpoint needs besides a Source: the
// archive of the traffic auditor (paper 4.4.3). A Source that does not
// implement it answers traffic pushes with 404.
type TrafficSource interface {
	// PushTraffic stores one batch of the node's rows, once: a batch ID
	// the node pushed before adds nothing and answers Duplicate.
	PushTraffic(ctx context.Context, nodeID int64, batch api.TrafficBatch) (api.TrafficReceipt, error)
}

// maxTrafficSlice bounds a row's slice name (PLCAPI's are at most 32).
const maxTrafficSlice = 64

// traffic stores a batch of the node's archived traffic (POST traffic).
func (h *Handler) traffic(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return errorf(http.StatusMethodNotAllowed, "traffic: method %s not allowed", r.Method)
	}
	ts, ok := h.src.(TrafficSource)
	if !ok {
		return errorf(http.StatusNotFound, "this central keeps no traffic archive")
	}
	node, body, err := h.authenticate(w, r, api.MaxTrafficBody)
	if err != nil {
		return err
	}
	var batch api.TrafficBatch
	if err := decodeStrict(body, &batch); err != nil {
		return err
	}
	if err := h.checkTraffic(&batch); err != nil {
		return err
	}
	rec, err := ts.PushTraffic(r.Context(), node, batch)
	if err != nil {
		return fmt.Errorf("node %d traffic: %w", node, err)
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// checkTraffic refuses a malformed batch and writes each row's address in
// its canonical form (IPv4 unmapped).
func (h *Handler) checkTraffic(b *api.TrafficBatch) error {
	if b.ID == "" || len(b.ID) > api.MaxTrafficBatchID {
		return errorf(http.StatusBadRequest, "traffic: batch id missing or over %d characters", api.MaxTrafficBatchID)
	}
	for _, c := range b.ID {
		if c < '!' || c > '~' {
			return errorf(http.StatusBadRequest, "traffic: batch id: printable ASCII without spaces only")
		}
	}
	if len(b.Rows) > api.MaxTrafficRows {
		return errorf(http.StatusRequestEntityTooLarge, "traffic: %d rows, over the limit of %d a batch", len(b.Rows), api.MaxTrafficRows)
	}
	latest := h.now().Unix() + api.NodeAuthMaxSkew + 60
	for i := range b.Rows {
		row := &b.Rows[i]
		dst, err := netip.ParseAddr(row.Dst)
		switch {
		case err != nil || dst.Zone() != "":
			return errorf(http.StatusBadRequest, "traffic: row %d: dst %q is not an IP address", i, row.Dst)
		case row.Slice == "" || len(row.Slice) > maxTrafficSlice:
			return errorf(http.StatusBadRequest, "traffic: row %d: slice missing or over %d characters", i, maxTrafficSlice)
		case row.Minute <= 0 || row.Minute%60 != 0 || row.Minute > latest:
			return errorf(http.StatusBadRequest, "traffic: row %d: minute %d is not the start of a past minute (Unix seconds)", i, row.Minute)
		case row.Packets > math.MaxInt64 || row.Bytes > math.MaxInt64:
			return errorf(http.StatusBadRequest, "traffic: row %d: counts over 2^63", i)
		}
		row.Dst = dst.Unmap().String()
	}
	return nil
}

package push

import (
	"context"
	"fmt"
	"net/http"

	"github.com/orbisproject/orbis/api"
)

// SummarySource is a Source that keeps nodes' summaries of their sensors.
type SummarySource interface {
	// ReportNodeSummary records the node's summary (clamped: the node may
	// lie) and its last contact.
	ReportNodeSummary(ctx context.Context, nodeID int64, s api.NodeSummary) error
}

// summary records the node's summary of its sensors: a signed POST of one
// api.NodeSummary, at most api.MaxSummaryBody bytes.
func (h *Handler) summary(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return errorf(http.StatusMethodNotAllowed, "summary: method %s not allowed", r.Method)
	}
	ss, ok := h.src.(SummarySource)
	if !ok {
		return errorf(http.StatusNotFound, "this central keeps no node summaries")
	}
	node, body, err := h.authenticate(w, r, api.MaxSummaryBody)
	if err != nil {
		return err
	}
	var s api.NodeSummary
	if err := decodeStrict(body, &s); err != nil {
		return err
	}
	if err := ss.ReportNodeSummary(r.Context(), node, s); err != nil {
		return fmt.Errorf("node %d summary: %w", node, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

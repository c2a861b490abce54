package software

import (
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// Status returns slice's current software and its nodes' latest reports,
// as GET status answers at once, to c, who must be allowed to push to it
// (plc.Service.SliceForSoftware). Central's portal shows it.
func (h *Handler) Status(ctx context.Context, c *plc.Caller, slice string) (api.SoftwareStatus, error) {
	sl, sw, err := h.opts.Core.SliceForSoftware(ctx, c, slice)
	if err != nil {
		return api.SoftwareStatus{}, err
	}
	st := h.status.get(sl.Name, sw)
	st.NodeIDs = orEmpty(sl.NodeIDs)
	names, err := h.hostnames(ctx, st.NodeIDs)
	if err != nil {
		return api.SoftwareStatus{}, err
	}
	for i := range st.Nodes {
		st.Nodes[i].Hostname = names[st.Nodes[i].NodeID]
	}
	return st, nil
}

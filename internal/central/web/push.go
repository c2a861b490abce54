package web

import (
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// SoftwareStatus tells a slice's software push progress, checking the
// caller may push to the slice; central's software handler is one.
type SoftwareStatus interface {
	Status(ctx context.Context, c *plc.Caller, slice string) (api.SoftwareStatus, error)
}

// pushData is a slice page's software push progress.
type pushData struct {
	api.SoftwareStatus
	// Short is the manifest's hash, shortened.
	Short string
	// Done counts the nodes that installed the current manifest, Failed
	// those that failed it.
	Done, Failed int
}

// pushProgress is the slice's push progress, nil if it has none or the
// caller may not see it.
func (p *Portal) pushProgress(r *request, slice string) *pushData {
	if p.software == nil {
		return nil
	}
	st, err := p.software.Status(r.Context(), r.caller, slice)
	if err != nil || st.Manifest == "" {
		return nil
	}
	d := &pushData{SoftwareStatus: st, Short: st.Manifest[:min(12, len(st.Manifest))]}
	for _, n := range st.Nodes {
		switch {
		case n.Manifest != st.Manifest:
		case n.State == api.SoftwareInstalled:
			d.Done++
		case n.State == api.SoftwareFailed:
			d.Failed++
		}
	}
	return d
}

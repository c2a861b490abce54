package central

import (
	"net/http"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/software"
)

// mountSoftware serves software distribution (`orbis slice push`): the
// person calls under api.SoftwarePath and the node calls under
// api.NodeSoftwarePath, signed as the node channel's. Blobs live in
// DataDir/software.
func (c *Central) mountSoftware(mux *http.ServeMux, cfg Config, nodeChan *push.Handler) (*software.Handler, error) {
	quota := cfg.SoftwareQuota
	if quota <= 0 {
		quota = software.DefaultQuota
	}
	blobs, err := software.NewBlobs(filepath.Join(cfg.DataDir, "software"), quota)
	if err != nil {
		return nil, err
	}
	h := software.NewHandler(software.Options{
		Core: c.Service, Store: c.Store, Blobs: blobs,
		NodeAuth: nodeChan.AuthenticateNode, NodeAuthError: nodeChan.AnswerError,
		Log: cfg.Log.With("part", "software"),
	})
	mux.Handle(api.SoftwarePath, h)
	mux.Handle(api.NodeSoftwarePath, h)
	return h, nil
}

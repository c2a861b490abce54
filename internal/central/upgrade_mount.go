package central

import (
	"net/http"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/upgrade"
)

// mountUpgrade serves node upgrades: an admin publishes at
// api.UpgradePath, nodes fetch at api.NodeUpgradePath. The signing key
// and the build live in DataDir/upgrade.
func (c *Central) mountUpgrade(mux *http.ServeMux, cfg Config, nodeChan *push.Handler) error {
	builds, err := upgrade.OpenBuilds(filepath.Join(cfg.DataDir, "upgrade"), cfg.UpgradeMaxBytes)
	if err != nil {
		return err
	}
	h := upgrade.NewHandler(upgrade.Options{
		Builds: builds, Authenticate: c.Service.AuthenticateToken, Store: c.Store,
		NodeAuth: nodeChan.AuthenticateNode, NodeAuthError: nodeChan.AnswerError,
		Log: cfg.Log.With("part", "upgrade"),
	})
	mux.Handle(api.UpgradePath, h)
	mux.Handle(api.NodeUpgradePath, h)
	mux.Handle(api.NodeUpgradePath+"/", h)
	return nil
}

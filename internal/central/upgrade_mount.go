package central

import (
	"context"
	"net/http"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/upgrade"
)

// mountUpgrade serves node upgrades: an admin publishes at
// api.UpgradePath, nodes fetch at api.NodeUpgradePath. The signing key
// and the builds live in the store (every central process on it offers
// the same); DataDir/upgrade holds uploads and this process's copy of the
// offered build.
func (c *Central) mountUpgrade(ctx context.Context, mux *http.ServeMux, cfg Config, nodeChan *push.Handler) error {
	log := cfg.Log.With("part", "upgrade")
	builds, err := upgrade.OpenBuilds(ctx, c.Store.Upgrades(), filepath.Join(cfg.DataDir, "upgrade"), cfg.UpgradeMaxBytes, log)
	if err != nil {
		return err
	}
	h := upgrade.NewHandler(upgrade.Options{
		Builds: builds, Authenticate: c.Service.AuthenticateToken, Store: c.Store,
		NodeAuth: nodeChan.AuthenticateNode, NodeAuthError: nodeChan.AnswerError,
		Wait: c.hub.Wait, Log: log,
	})
	mux.Handle(api.UpgradePath, h)
	mux.Handle(api.NodeUpgradePath, h)
	mux.Handle(api.NodeUpgradePath+"/", h)
	return nil
}

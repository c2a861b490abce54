package central

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/store"
)

// nodeSource adapts the core service and the store to the nodes' channel.
type nodeSource struct {
	svc     *plc.Service
	st      store.Store
	archive *trafficArchive // the traffic endpoint's (archive.go)
}

var (
	_ push.Source        = (*nodeSource)(nil)
	_ push.Watcher       = (*nodeSource)(nil)
	_ push.SummarySource = (*nodeSource)(nil)
)

// WatchNodes tells the node channel's Hub of changes other central
// processes on the same database commit.
func (s *nodeSource) WatchNodes(ctx context.Context, changed func()) error {
	return s.st.WatchNodes(ctx, changed)
}

func (s *nodeSource) Versions(ctx context.Context, ids []int64) (map[int64]int64, error) {
	var v map[int64]int64
	err := s.st.View(ctx, func(tx store.Tx) (err error) {
		v, err = tx.NodeVersions(ids)
		return err
	})
	return v, err
}

func (s *nodeSource) NodeSlivers(ctx context.Context, nodeID int64) (api.Slivers, error) {
	return s.svc.NodeSlivers(ctx, nodeID)
}

func (s *nodeSource) ReportSlivers(ctx context.Context, nodeID int64, r []api.SliverReport) error {
	return s.svc.ReportSlivers(ctx, nodeID, r)
}

func (s *nodeSource) ReportNodeSummary(ctx context.Context, nodeID int64, sum api.NodeSummary) error {
	return s.svc.ReportNodeSummary(ctx, nodeID, sum)
}

func (s *nodeSource) NodeSecret(ctx context.Context, nodeID int64) (string, error) {
	secret, err := s.svc.NodeSecret(ctx, nodeID)
	return secret, denied(err)
}

func (s *nodeSource) RegisterNode(ctx context.Context, token, hostname, ip, version string) (int64, string, error) {
	id, secret, err := s.svc.RegisterNode(ctx, token, hostname, ip, version)
	return id, secret, denied(err)
}

// denied marks an unknown node or a bad token as a refusal the node
// channel answers with 401, not as a failure of central.
func denied(err error) error {
	var f *plc.Fault
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &f) && f.Code == plc.FaultAuth {
		return fmt.Errorf("%w: %v", push.ErrDenied, err)
	}
	return err
}

package plc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Limits of a node's sliver reports.
const (
	maxReports      = 10000
	maxReportReason = 4096
)

func (s *Service) registerNodeChannel() {
	s.add(method{name: "GetSlivers", roles: rolesNode, max: 1, sig: []string{"struct", "int"},
		help: "Returns what a node should run, in PlanetLab's shape for its NodeManager: {timestamp, node_id, hostname, version, interfaces, groups, conf_files, initscripts, accounts, slivers: [{name, slice_id, instantiation, expires, keys, attributes, rspec, GetSliceFamily}], leases, reservation_policy, lease_granularity, xmpp}. A node asks for itself (no argument); an admin names the node (node_id or hostname).",
		call: s.getSlivers})
	s.add(method{name: "ReportSlivers", roles: []string{"node"}, min: 1, max: 1, sig: []string{"int", "array"},
		help: "A node reports the state of its slivers: [{name, state, reason}]. Replaces its earlier report.",
		call: s.reportSlivers})
	s.add(method{name: "GetSliverReports", roles: rolesPersons, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns what nodes reported of slivers ({node_id, name, state, reason, updated}), for the slices the caller may see: their own, their sites' for PIs, all for admins.",
		call: s.getSliverReports})
	s.add(method{name: "GetEvents", roles: rolesAdmin, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the change log ({event_id, time, actor, action, object_type, object_id, detail}) that matches the filter.",
		call: s.getEvents})
}

func (s *Service) getSlivers(ctx context.Context, c *Caller, args []any) (any, error) {
	nodeID := c.NodeID
	if v := optArg(args, 0); v != nil {
		ref, err := argRef(args, 0, "node_id_or_hostname")
		if err != nil {
			return nil, err
		}
		err = s.view(ctx, c, func(t *txn) error {
			n, err := t.node(ref)
			if err == nil {
				nodeID = n.NodeID
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	switch {
	case nodeID == 0:
		return nil, Faultf(FaultInvalidArg, "node_id_or_hostname: which node? (an admin names one)")
	case !c.IsAdmin() && nodeID != c.NodeID:
		return nil, denied("a node may only get its own slivers")
	}
	return s.plSlivers(ctx, c, nodeID)
}

func (s *Service) reportSlivers(ctx context.Context, c *Caller, args []any) (any, error) {
	list, ok := args[0].([]any)
	if !ok {
		return nil, badArg("reports", "an array", args[0])
	}
	reports := make([]api.SliverReport, 0, len(list))
	for i := range list {
		f, err := structArg(list, i, fmt.Sprintf("reports[%d]", i))
		if err != nil {
			return nil, err
		}
		if err := f.only("name", "state", "reason"); err != nil {
			return nil, err
		}
		var r api.SliverReport
		f.str("name", &r.Name)
		var state string
		f.str("state", &state)
		r.State = api.SliverState(state)
		f.str("reason", &r.Reason)
		if f.err != nil {
			return nil, f.err
		}
		reports = append(reports, r)
	}
	return int64(1), s.ReportSlivers(ctx, c.NodeID, reports)
}

// ReportSlivers replaces what node nodeID reported of its slivers, and
// records that it was in contact now.
func (s *Service) ReportSlivers(ctx context.Context, nodeID int64, reports []api.SliverReport) error {
	if len(reports) > maxReports {
		return Faultf(FaultInvalidArg, "reports: %d reports (max %d)", len(reports), maxReports)
	}
	for i, r := range reports {
		if r.Name == "" || len(r.Name) > 128 {
			return Faultf(FaultInvalidArg, "reports[%d]: a name (max 128) is required", i)
		}
		if !r.State.Valid() {
			return Faultf(FaultInvalidArg, "reports[%d]: state %.64q is not a sliver state (%v)", i, r.State, api.SliverStates)
		}
		if len(r.Reason) > maxReportReason {
			reports[i].Reason = r.Reason[:maxReportReason]
		}
	}
	return s.update(ctx, &Caller{NodeID: nodeID}, func(t *txn) error {
		if err := t.SetSliverReports(nodeID, reports, t.now); err != nil {
			return err
		}
		return t.TouchNode(nodeID, t.now)
	})
}

// Versions returns the sliver list version of each of nodeIDs (as
// push.VersionSource wants).
func (s *Service) Versions(ctx context.Context, nodeIDs []int64) (map[int64]int64, error) {
	var out map[int64]int64
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.NodeVersions(nodeIDs)
		return err
	})
	return out, err
}

// NodeSecret returns node nodeID's HMAC key; an error wrapping
// store.ErrNotFound if the node does not exist or never registered.
func (s *Service) NodeSecret(ctx context.Context, nodeID int64) (string, error) {
	var secret string
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		secret, err = tx.NodeSecret(nodeID)
		return err
	})
	if err == nil && secret == "" {
		err = fmt.Errorf("node %d has not registered: %w", nodeID, store.ErrNotFound)
	}
	return secret, err
}

// RegisterNode trades a one-time registration token (AddNodeToken) for the
// node's secret: 32 random bytes in hex, replacing any earlier one. The
// node's ip and version are recorded; the hostname an operator gave the
// node stays (a different one is logged). A token unknown, used or
// expired is fault 103.
func (s *Service) RegisterNode(ctx context.Context, token string, hostname, ip, version string) (int64, string, error) {
	if ip != "" && net.ParseIP(ip) == nil {
		return 0, "", Faultf(FaultInvalidArg, "ip: %q is not an IP address", ip)
	}
	secret := randomHex(32)
	var nodeID int64
	err := s.update(ctx, &Caller{}, func(t *txn) error {
		id, err := t.UseNodeToken(sha256Hex(token), t.now)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "registration token unknown, used or expired: ask for a new one (AddNodeToken)")
		}
		if err != nil {
			return err
		}
		nodeID = id
		n, err := t.node(id)
		if err != nil {
			return err
		}
		if hostname != "" && hostname != n.Hostname {
			t.s.log.Warn("node registers under another hostname", "node", id, "hostname", n.Hostname, "says", hostname)
		}
		if ip != "" {
			n.IP = ip
		}
		if version != "" && len(version) <= 256 {
			n.Version = version
		}
		n.BootState = "boot"
		if err := t.UpdateNode(n); err != nil {
			return err
		}
		if err := t.SetNodeSecret(id, secret); err != nil {
			return err
		}
		return t.TouchNode(id, t.now)
	})
	if err != nil {
		return 0, "", err
	}
	s.log.Info("node registered", "node", nodeID, "at", time.Unix(s.now().Unix(), 0).UTC())
	return nodeID, secret, nil
}

func (s *Service) getSliverReports(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, reportKind, func(t *txn, q store.Query) ([]store.SliverReportRow, error) { return t.SliverReports(q) },
		func(x *store.SliverReportRow) any { return [2]any{x.NodeID, x.Name} },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visibleSliceIDs()
			return inRestriction("slice_id", ids, all), err
		})
}

func (s *Service) getEvents(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, eventKind, func(t *txn, q store.Query) ([]store.Event, error) { return t.Events(q) },
		func(x *store.Event) any { return x.EventID }, nil)
}

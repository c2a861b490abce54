package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// NodeSummary is what a node's sensors say of it, as central last heard
// (CoMon's view of a node): the node sends it with the node channel
// (POST NodePath+"summary"), central clamps it and keeps the latest and a
// day of history. Sizes are bytes, bandwidth bytes per second.
type NodeSummary struct {
	// NodeID and Updated are central's: which node sent it, and when
	// central received it. A node's own values are ignored.
	NodeID  int64 `json:"node_id"`
	Updated int64 `json:"updated"`
	// Load is the 1-minute load average.
	Load      float64 `json:"load"`
	MemTotal  int64   `json:"mem_total"`
	FreeMem   int64   `json:"free_mem"`
	DiskTotal int64   `json:"disk_total"`
	FreeDisk  int64   `json:"free_disk"`
	// Slivers is how many slivers run on the node.
	Slivers int64 `json:"slivers"`
	// BwIn and BwOut are the node's traffic over its last period.
	BwIn  int64 `json:"bw_in"`
	BwOut int64 `json:"bw_out"`
	// AgentVersion is the version of the node's orbis.
	AgentVersion string `json:"agent_version"`
}

// NodePoint is one point of a node's history (GetNodeHistory): the last
// summary central received in one period of NodeHistoryStep seconds,
// Time being that summary's.
type NodePoint struct {
	Time     int64   `json:"time"`
	Load     float64 `json:"load"`
	FreeMem  int64   `json:"free_mem"`
	FreeDisk int64   `json:"free_disk"`
	Slivers  int64   `json:"slivers"`
	BwIn     int64   `json:"bw_in"`
	BwOut    int64   `json:"bw_out"`
}

// Bounds of a node's history: one point per NodeHistoryStep seconds,
// NodeHistoryPoints of them (a day).
const (
	NodeHistoryStep   = 300
	NodeHistoryPoints = 288
)

// MaxSummaryBody bounds the body of a node's summary.
const MaxSummaryBody = 4 << 10

// Summary sends central the node's summary.
func (c *NodeClient) Summary(ctx context.Context, s NodeSummary) error {
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("send summary: %w", err)
	}
	return c.do(ctx, http.MethodPost, "summary", body, true, nil)
}

// GetNodeSummaries returns the latest summary of the nodes that filter
// selects (as GetNodes' filter, on the summary's fields).
func (c *CentralClient) GetNodeSummaries(ctx context.Context, filter any, fields ...string) ([]NodeSummary, error) {
	var out []NodeSummary
	return out, c.Call(ctx, "GetNodeSummaries", &out, getArgs(filter, fields)...)
}

// GetNodeHistory returns a node's (by node_id or hostname) history of the
// last day, oldest first.
func (c *CentralClient) GetNodeHistory(ctx context.Context, node any) ([]NodePoint, error) {
	var out []NodePoint
	return out, c.Call(ctx, "GetNodeHistory", &out, node)
}

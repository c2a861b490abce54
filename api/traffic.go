package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// The traffic auditor's archive (paper 4.4.3): every node sums its
// outgoing packets per minute, slice, destination address, protocol and
// destination port, and pushes the closed minutes to central:
//
//	POST /api/v1/node/traffic  body TrafficBatch (at most MaxTrafficBody
//	                           bytes, else 413), signed like report;
//	                           answers TrafficReceipt
//
// A batch carries an ID of the node's choosing, the same every time the
// node retries it: central keeps each node's batch IDs as long as it
// keeps their rows, so a batch pushed again after a lost answer is not
// counted twice.

// Bounds of a traffic batch.
const (
	MaxTrafficBody    = 4 << 20
	MaxTrafficRows    = 10000
	MaxTrafficBatchID = 128
)

// TrafficRow is what one slice sent to one destination address and port
// with one protocol in one minute.
type TrafficRow struct {
	Minute   int64  `json:"minute"` // Unix seconds, a multiple of 60
	Slice    string `json:"slice"`
	Dst      string `json:"dst"` // an IPv4 or IPv6 address
	Proto    uint8  `json:"proto"`
	DstPort  uint16 `json:"dport"`
	TCPFlags uint8  `json:"tcp_flags"` // the union of the packets' flags
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
}

// TrafficBatch is one push of a node's closed minutes.
type TrafficBatch struct {
	// ID names the batch; a retry of the batch carries the same ID.
	ID   string       `json:"id"`
	Rows []TrafficRow `json:"rows"`
}

// TrafficReceipt is central's answer to a push: how many rows it added,
// and whether it already had the batch (then it added none).
type TrafficReceipt struct {
	Added     int  `json:"added"`
	Duplicate bool `json:"duplicate"`
}

// PushTraffic sends a batch of the node's archived traffic to central.
// Pushing a batch again (same ID) after an error is safe.
func (c *NodeClient) PushTraffic(ctx context.Context, batch TrafficBatch) (TrafficReceipt, error) {
	if batch.Rows == nil {
		batch.Rows = []TrafficRow{}
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return TrafficReceipt{}, fmt.Errorf("push traffic: %w", err)
	}
	if len(body) > MaxTrafficBody {
		return TrafficReceipt{}, &NodeCallError{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("push traffic: batch of %d bytes is over the limit of %d", len(body), MaxTrafficBody)}
	}
	var r TrafficReceipt
	err = c.do(ctx, http.MethodPost, "traffic", body, true, &r)
	return r, err
}

package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// The node channel: how a node talks to central (paper 4.2.3: the
// resource manager obtains from central the slivers it should create).
//
//	GET  /api/v1/node/slivers?since=V  long-poll: answers when the node's
//	                                   list version differs from V (at once
//	                                   without since), else after ~25 s with
//	                                   the current list anyway; body Slivers
//	POST /api/v1/node/report           body []SliverReport; answers 204
//	POST /api/v1/node/register         body NodeRegisterRequest, no node
//	                                   authentication (the one-time token is
//	                                   the credential); NodeRegisterResponse
//
// Authentication of slivers and report, with the secret that register
// returned: the request carries
//
//	X-Orbis-Node:      the node id, decimal
//	X-Orbis-Time:      the node's clock, Unix seconds, decimal
//	X-Orbis-Nonce:     32 lower-case hex digits, fresh for every request
//	X-Orbis-Signature: NodeSignature(secret, method, uri, time, nonce, body)
//
// where uri is the request target exactly as sent (path and query, e.g.
// "/api/v1/node/slivers?since=7"). Central refuses a time more than
// NodeAuthMaxSkew away from its own clock and a nonce it has already seen
// from the node within that window, so a captured request cannot be
// replayed; it compares signatures in constant time.

// NodePath is the path under which central serves the node channel.
const NodePath = "/api/v1/node/"

// Headers of an authenticated node request.
const (
	NodeHeaderID        = "X-Orbis-Node"
	NodeHeaderTime      = "X-Orbis-Time"
	NodeHeaderNonce     = "X-Orbis-Nonce"
	NodeHeaderSignature = "X-Orbis-Signature"
)

// NodeAuthMaxSkew is how far, in seconds, a request's time may be from
// central's clock.
const NodeAuthMaxSkew = 300

// NodeRegisterRequest registers a node with the one-time token an admin or
// tech got from AddNode (POST /api/v1/node/register).
type NodeRegisterRequest struct {
	Token    string `json:"token"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
	Version  string `json:"version"`
}

// NodeRegisterResponse carries the node's id and its secret: the key of
// every later request's signature. Keep it secret.
type NodeRegisterResponse struct {
	NodeID int64  `json:"node_id"`
	Secret string `json:"secret"`
}

// NodeSignature returns the signature of a node request:
//
//	hex(HMAC-SHA256(secret, method + "\n" + uri + "\n" + time + "\n" +
//	                        nonce + "\n" + hex(SHA-256(body))))
//
// with time in decimal Unix seconds.
func NodeSignature(secret, method, uri string, time int64, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + "\n" + uri + "\n" + strconv.FormatInt(time, 10) + "\n" + nonce + "\n"))
	mac.Write([]byte(hex.EncodeToString(sum[:])))
	return hex.EncodeToString(mac.Sum(nil))
}

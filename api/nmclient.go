package api

import (
	"context"
	"encoding/json"
	"net/http"
)

// NMClient calls a node manager over its Unix socket. The CLI, central's
// resource manager and any broker use the same client and the same calls:
// the node manager has no back door. It is safe for concurrent use.
type NMClient struct {
	svc unixService
}

// NewNMClient returns a client of the node manager listening on socket (""
// means NMSocket).
func NewNMClient(socket string) *NMClient {
	if socket == "" {
		socket = NMSocket
	}
	return &NMClient{svc: newUnixService(socket, "node manager", "http://nm/v1/", func(status int, msg string) error {
		return &NMCallError{Status: status, Msg: msg}
	})}
}

// NMCallError is a call the node manager answered with an error.
type NMCallError struct {
	// Status is the HTTP status: 400 bad input, 403 bad rcap or missing
	// privilege, 404 unknown sliver, 409 refused by admission control or
	// conflicting with another operation, 413 request too large.
	Status int
	Msg    string
}

func (e *NMCallError) Error() string { return e.Msg }

// Is matches the kind of failure the node manager answered with: a target
// that reports the HTTP status it answers with (the node manager's error
// kinds, internal/errkind) matches an error of that status, so a caller
// writes errors.Is(err, errkind.Denied), never a status code.
func (e *NMCallError) Is(target error) bool {
	k, ok := target.(interface{ HTTPStatus() int })
	return ok && k.HTTPStatus() == e.Status
}

// Acquire asks for an rcap to the resources of rs.
func (c *NMClient) Acquire(ctx context.Context, rs Rspec) (Rcap, error) {
	var resp AcquireResponse
	err := c.call(ctx, "acquire", AcquireRequest{Rspec: rs}, &resp)
	return resp.Rcap, err
}

// Bind binds rcap to slice, creating and starting its sliver.
func (c *NMClient) Bind(ctx context.Context, slice string, rcap Rcap, attrs BindAttrs) error {
	return c.call(ctx, "bind", BindRequest{Slice: slice, Rcap: rcap, Attrs: attrs}, nil)
}

// Split carves rs out of rcap's resources and returns the new rcap.
func (c *NMClient) Split(ctx context.Context, rcap Rcap, rs Rspec) (Rcap, error) {
	var resp SplitResponse
	err := c.call(ctx, "split", SplitRequest{Rcap: rcap, Rspec: rs}, &resp)
	return resp.Rcap, err
}

// Release frees rcap's resources, destroying the sliver bound to it.
func (c *NMClient) Release(ctx context.Context, rcap Rcap) error {
	return c.call(ctx, "release", RcapRequest{Rcap: rcap}, nil)
}

// Query returns what rcap holds.
func (c *NMClient) Query(ctx context.Context, rcap Rcap) (QueryResponse, error) {
	var resp QueryResponse
	err := c.call(ctx, "query", RcapRequest{Rcap: rcap}, &resp)
	return resp, err
}

// List returns the node's rcaps (by ID, never the rcaps themselves) and
// slivers.
func (c *NMClient) List(ctx context.Context) (NMList, error) {
	var resp NMList
	err := c.do(ctx, http.MethodGet, "list", nil, &resp)
	return resp, err
}

// Rcaps returns the rcaps the caller owns, with the rcaps themselves where
// the node manager keeps them (see RcapInfo.Rcap).
func (c *NMClient) Rcaps(ctx context.Context) (NMRcaps, error) {
	var resp NMRcaps
	err := c.call(ctx, "rcaps", struct{}{}, &resp)
	return resp, err
}

// Pass hands rcap to the slice to (or "central"): from then on it works for
// to only.
func (c *NMClient) Pass(ctx context.Context, rcap Rcap, to string) error {
	return c.call(ctx, "pass", PassRequest{Rcap: rcap, To: to}, nil)
}

// Amend gives rcap the resources rs, in place (see AmendRequest).
func (c *NMClient) Amend(ctx context.Context, rcap Rcap, rs Rspec) error {
	return c.call(ctx, "amend", AmendRequest{Rcap: rcap, Rspec: rs}, nil)
}

// Extend moves the end of rcap to end, in place (see ExtendRequest).
func (c *NMClient) Extend(ctx context.Context, rcap Rcap, end int64) error {
	return c.call(ctx, "extend", ExtendRequest{Rcap: rcap, End: end}, nil)
}

// Start starts the sliver name.
func (c *NMClient) Start(ctx context.Context, name string) error {
	return c.call(ctx, "start", SliverRequest{Name: name}, nil)
}

// Stop stops the sliver name; it keeps its files and resources.
func (c *NMClient) Stop(ctx context.Context, name string) error {
	return c.call(ctx, "stop", SliverRequest{Name: name}, nil)
}

// Reclaim releases the rcap whose public ID is id, whoever owns it (host
// root only).
func (c *NMClient) Reclaim(ctx context.Context, id string) error {
	return c.call(ctx, "reclaim", ReclaimRequest{ID: id}, nil)
}

// Destroy destroys the sliver name; its rcap stays live and unbound.
func (c *NMClient) Destroy(ctx context.Context, name string) error {
	return c.call(ctx, "destroy", SliverRequest{Name: name}, nil)
}

// Raw posts body, which must be a JSON object, to /v1/op and returns the
// response body. The CLI uses it to pass the user's JSON through unchanged,
// so the node manager's own validation speaks to the user.
func (c *NMClient) Raw(ctx context.Context, op string, body []byte) (json.RawMessage, error) {
	var resp json.RawMessage
	method := http.MethodPost
	if op == "list" {
		method, body = http.MethodGet, nil
	}
	err := c.do(ctx, method, op, body, &resp)
	return resp, err
}

func (c *NMClient) call(ctx context.Context, op string, req, resp any) error {
	return c.svc.call(ctx, http.MethodPost, op, req, resp)
}

func (c *NMClient) do(ctx context.Context, method, op string, body []byte, resp any) error {
	return c.svc.do(ctx, method, op, body, resp)
}

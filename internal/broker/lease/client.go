package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A Client calls one broker's HTTP API. It is safe for concurrent use.
type Client struct {
	base string
	auth string
	http *http.Client
}

// NewClient returns a client of the broker at base (http://host:port).
func NewClient(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// WithAuth returns a client that sends secret (a buyer's credential, or
// the operator's secret) with every call.
func (c *Client) WithAuth(secret string) *Client {
	d := *c
	d.auth = secret
	return &d
}

// URL is the broker's base URL.
func (c *Client) URL() string { return c.base }

// CallError is a call the broker answered with an error.
type CallError struct {
	Status int
	Msg    string
}

func (e *CallError) Error() string { return e.Msg }

// Info returns the broker's slot length, capacity and clock.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
	return out, err
}

// Leases returns the broker's leases.
func (c *Client) Leases(ctx context.Context) ([]Lease, error) {
	var out []Lease
	err := c.do(ctx, http.MethodGet, "/v1/leases", nil, &out)
	return out, err
}

// Schedule returns what n slots from from hold.
func (c *Client) Schedule(ctx context.Context, from int64, n int) ([]SlotUse, error) {
	var out []SlotUse
	q := url.Values{"from": {strconv.FormatInt(from, 10)}, "slots": {strconv.Itoa(n)}}
	err := c.do(ctx, http.MethodGet, "/v1/schedule?"+q.Encode(), nil, &out)
	return out, err
}

// Reserve asks for a lease.
func (c *Client) Reserve(ctx context.Context, req ReserveRequest) (ReserveResponse, error) {
	var out ReserveResponse
	err := c.do(ctx, http.MethodPost, "/v1/leases", req, &out)
	return out, err
}

// Cancel cancels a lease.
func (c *Client) Cancel(ctx context.Context, id, token string) (Lease, error) {
	var out Lease
	err := c.do(ctx, http.MethodPost, "/v1/cancel", CancelRequest{ID: id, Token: token}, &out)
	return out, err
}

// Account returns the account of the client's credential.
func (c *Client) Account(ctx context.Context) (Account, error) {
	var out Account
	err := c.do(ctx, http.MethodGet, "/v1/account", nil, &out)
	return out, err
}

// Grant opens an account or changes its credit (the operator's secret).
func (c *Client) Grant(ctx context.Context, req GrantRequest) (GrantResponse, error) {
	var out GrantResponse
	err := c.do(ctx, http.MethodPost, "/v1/accounts", req, &out)
	return out, err
}

// Accounts lists the broker's accounts (the operator's secret).
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	err := c.do(ctx, http.MethodGet, "/v1/accounts", nil, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("broker %s: %w", c.base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", "Bearer "+c.auth)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("broker %s: %w", c.base, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("broker %s: read response: %w", c.base, err)
	}
	if res.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &CallError{Status: res.StatusCode, Msg: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("broker %s: decode response: %w", c.base, err)
	}
	return nil
}

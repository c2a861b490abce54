package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// A Client calls one broker's HTTP API. It is safe for concurrent use.
type Client struct {
	base string
	auth string
	http *http.Client
	// err is why the client cannot call (a malformed URL or CA hash).
	err error
}

// A broker serves HTTPS with a certificate of a CA of its own (see
// Config.InsecureHTTP); buyers pin that CA by its hash, which `orbis-lease
// serve` prints, as the fragment of the broker's URL:
// https://HOST:PORT#sha256:HEX. The fragment is never sent.

// NewClient returns a client of the broker that spec names: its URL,
// with the hash of its CA as the fragment (an https:// URL without one is
// verified by the system's roots).
func NewClient(spec string) *Client {
	base, tr, err := ParseBroker(spec)
	if err != nil {
		return &Client{base: spec, err: err}
	}
	if tr.CAHash == "" {
		tr.System = true
	}
	return NewClientTrust(base, tr)
}

// NewClientTrust returns a client of the broker at base that verifies it
// by tr.
func NewClientTrust(base string, tr api.Trust) *Client {
	c := &Client{base: strings.TrimRight(base, "/")}
	v, err := api.NewVerifier(tr)
	if err != nil {
		c.err = err
		return c
	}
	t := v.Transport()
	t.ResponseHeaderTimeout = 0 // the client's Timeout bounds each call
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: t}
	return c
}

// ParseBroker splits a broker's spec into its URL and how to verify it:
// the CA hash of its fragment.
func ParseBroker(spec string) (base string, tr api.Trust, err error) {
	u, err := url.Parse(spec)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", tr, fmt.Errorf("broker %q: want https://HOST:PORT#sha256:HEX (the CA hash orbis-lease serve prints)", spec)
	}
	if u.Fragment != "" {
		if tr.CAHash, err = api.ParseCAHash(u.Fragment); err != nil {
			return "", tr, fmt.Errorf("broker %q: %w", spec, err)
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return strings.TrimRight(u.String(), "/"), tr, nil
}

// CheckBroker refuses a broker spec a buyer must not call: plain HTTP to
// a host that is not loopback (unless insecureHTTP), or HTTPS without the
// broker's CA hash.
func CheckBroker(spec string, insecureHTTP bool) error {
	base, tr, err := ParseBroker(spec)
	if err != nil {
		return err
	}
	tr.InsecureHTTP = insecureHTTP
	v, err := api.NewVerifier(tr)
	if err != nil {
		return err
	}
	if err := v.CheckURL(base); errors.Is(err, api.ErrNoTrust) {
		return fmt.Errorf("broker %q: add the hash of the broker's CA, as orbis-lease serve prints it: %s#sha256:HEX", spec, base)
	} else if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
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
	if c.err != nil {
		return c.err
	}
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

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Central's JSON API: the same methods and records as the XML-RPC PLCAPI
// (package plc's method table serves both), authenticated with an API
// token instead of an auth struct.
//
//	POST /api/v1/login     {"username": EMAIL, "password": P}
//	                       -> {"result": {"token": T}}
//	POST /api/v1/logout    revokes the token T of "Authorization: Bearer T"
//	                       -> {"result": 1}
//	POST /api/v1/METHOD    a JSON array of the method's arguments after
//	                       auth (an empty body means none), with the header
//	                       "Authorization: Bearer T" (none: anonymous)
//
// A call answers 200 {"result": ...}, or an error status with
// {"error": {"code": FAULT, "message": "..."}}, FAULT being a PLCAPI fault
// code (CentralError).

// CentralPath is the path under which central serves the JSON API.
const CentralPath = "/api/v1/"

// Limits of a CentralClient.
const (
	// CentralTimeout bounds one call, unless its context ends sooner.
	CentralTimeout = 60 * time.Second
	// centralMaxResponse bounds what the client reads of an answer.
	centralMaxResponse = 64 << 20
)

// CentralError is a call that central answered with an error.
type CentralError struct {
	// Method is the method called ("login" for Login).
	Method string
	// Status is the HTTP status of the answer.
	Status int
	// Code is the PLCAPI fault code (FaultAuth ...), 0 if the answer
	// carried none.
	Code int
	// Message is central's explanation, meant for a person.
	Message string
}

func (e *CentralError) Error() string {
	return fmt.Sprintf("%s: %s", e.Method, e.Message)
}

// PLCAPI fault codes, as a CentralError's Code.
const (
	FaultInvalidMethod = 100
	FaultArgCount      = 101
	FaultInvalidArg    = 102
	FaultAuth          = 103
	FaultDB            = 106
	FaultPermission    = 108
	FaultNotImpl       = 109
	FaultAPI           = 111
)

// UnreachableError is a call that did not get an answer from central: the
// connection failed, timed out or broke.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach central at %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// CentralClient calls central's JSON API as one person (or anonymously).
// It is safe for concurrent use.
type CentralClient struct {
	base  string
	token string
	http  *http.Client
	// verifier verifies central's certificate (nil: the system's roots).
	verifier *Verifier
}

// NewCentralClient returns a client of the central at baseURL (scheme,
// host and port, e.g. "https://plc.example.org") that authenticates with
// the API token token ("" calls anonymously). It verifies an https://
// central by the system's roots; NewCentralClientTLS pins central's CA.
func NewCentralClient(baseURL, token string) *CentralClient {
	return NewCentralClientTLS(baseURL, token, nil)
}

// NewCentralClientTLS is NewCentralClient verifying central by v (nil:
// the system's roots).
func NewCentralClientTLS(baseURL, token string, v *Verifier) *CentralClient {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: CentralTimeout,
	}
	if v != nil {
		t = v.Transport()
	}
	hc := &http.Client{Timeout: CentralTimeout, Transport: t}
	return &CentralClient{base: strings.TrimRight(baseURL, "/"), token: token, http: hc, verifier: v}
}

// Verifier returns what verifies central (nil: the system's roots).
func (c *CentralClient) Verifier() *Verifier { return c.verifier }

// BaseURL returns the central the client calls.
func (c *CentralClient) BaseURL() string { return c.base }

// Call calls method with args (the arguments after auth) and decodes its
// result into result (nil discards it). Errors are a *CentralError when
// central answered, an *UnreachableError when it did not.
func (c *CentralClient) Call(ctx context.Context, method string, result any, args ...any) error {
	var body []byte
	if len(args) > 0 {
		var err error
		if body, err = json.Marshal(args); err != nil {
			return fmt.Errorf("%s: encode arguments: %w", method, err)
		}
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
	}
	if err := c.post(ctx, method, body, &resp); err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if len(resp.Result) == 0 {
		return fmt.Errorf("%s: answer without a result", method)
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("%s: decode result: %w", method, err)
	}
	return nil
}

// Login trades a person's email and password for an API token.
func (c *CentralClient) Login(ctx context.Context, user, password string) (string, error) {
	body, err := json.Marshal(map[string]string{"username": user, "password": password})
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	var resp struct {
		Result struct {
			Token string `json:"token"`
		} `json:"result"`
	}
	if err := c.post(ctx, "login", body, &resp); err != nil {
		return "", err
	}
	if resp.Result.Token == "" {
		return "", errors.New("login: central answered without a token")
	}
	return resp.Result.Token, nil
}

// Logout revokes the client's token at central: it no longer works,
// for anyone who holds a copy.
func (c *CentralClient) Logout(ctx context.Context) error {
	if c.token == "" {
		return errors.New("logout: the client has no token")
	}
	var resp struct {
		Result int `json:"result"`
	}
	return c.post(ctx, "logout", nil, &resp)
}

// post sends body to CentralPath+op and decodes a 200 answer into resp.
func (c *CentralClient) post(ctx context.Context, op string, body []byte, resp any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+CentralPath+op, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return &UnreachableError{URL: c.base, Err: unwrapURLError(err)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, centralMaxResponse+1))
	if err != nil {
		return &UnreachableError{URL: c.base, Err: fmt.Errorf("read answer: %w", err)}
	}
	if len(data) > centralMaxResponse {
		return fmt.Errorf("%s: answer larger than %d MiB: narrow the query", op, centralMaxResponse>>20)
	}
	if res.StatusCode != http.StatusOK {
		return centralError(op, res, data)
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("%s: decode answer from %s: %w", op, c.base, err)
	}
	return nil
}

// centralError makes the error of a non-200 answer: central's JSON error
// if it sent one, else the text or status of the answer (a proxy's page,
// say).
func centralError(op string, res *http.Response, data []byte) *CentralError {
	e := &CentralError{Method: op, Status: res.StatusCode}
	var body struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil && body.Error.Message != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	e.Message = res.Status
	if s := strings.TrimSpace(string(data)); s != "" && len(s) < 300 && !strings.Contains(s, "<") {
		e.Message += ": " + s
	}
	if res.StatusCode == http.StatusNotFound {
		e.Message += " (is this a central? its JSON API is at " + CentralPath + ")"
	}
	return e
}

// unwrapURLError drops the *url.Error layer, which repeats the method and
// the URL: the UnreachableError names the central already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

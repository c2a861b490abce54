package plc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orbisproject/orbis/internal/central/jsonapi"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The attack tests call central over the wire, PLCAPI and the JSON API
// both, from several loopback addresses (127.0.0.0/8 is all local), so
// that each address is a source of its own, as remote clients would be.

// wire is the service behind both real handlers, as central mounts them.
type wire struct {
	e   *env
	url string
}

// serveWire serves /PLCAPI/ and /api/v1/ behind trusted's middleware.
func (e *env) serveWire(trusted plc.TrustedProxies) *wire {
	mux := http.NewServeMux()
	mux.Handle("/PLCAPI/", xmlrpc.New(e.svc.Registry(), e.svc, testutil.Logger(e.t)))
	mux.Handle("/api/v1/", jsonapi.New(e.svc.Registry(), e.svc, testutil.Logger(e.t)))
	srv := httptest.NewServer(trusted.Handler(mux))
	e.t.Cleanup(srv.Close)
	return &wire{e: e, url: srv.URL}
}

// client is one source: HTTP connections from one loopback address.
type client struct {
	t    *testing.T
	w    *wire
	http *http.Client
	// header is added to every request (X-Forwarded-For).
	header http.Header
}

// from returns a client whose connections come from ip (127.x.y.z).
func (w *wire) from(ip string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	w.e.t.Cleanup(tr.CloseIdleConnections)
	return &client{t: w.e.t, w: w, http: &http.Client{Transport: tr}, header: http.Header{}}
}

// plcapi calls method through PLCAPI with auth.
func (c *client) plcapi(method string, auth map[string]any, args ...any) (any, error) {
	x := &xmlrpc.Client{URL: c.w.url + "/PLCAPI/", HTTP: c.http}
	if len(c.header) > 0 {
		x.HTTP = &http.Client{Transport: headerTransport{c.header, c.http.Transport}}
	}
	return x.Call(c.w.e.ctx, method, append([]any{auth}, args...)...)
}

// pwCheck calls AuthCheck through PLCAPI with a password.
func (c *client) pwCheck(user, pw string) error {
	_, err := c.plcapi("AuthCheck", pwAuth(user, pw))
	return err
}

// jsonErr is an error answer of the JSON API.
type jsonErr struct {
	status int
	fault  plc.Fault
}

func (e *jsonErr) Error() string { return fmt.Sprintf("HTTP %d: %v", e.status, &e.fault) }

// post sends body to /api/v1/<op> with token, decoding the result.
func (c *client) post(op, token string, body any, result any) error {
	c.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(c.w.e.ctx, http.MethodPost, c.w.url+"/api/v1/"+op, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("POST %s: %v", op, err)
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("POST %s: decode: %v", op, err)
	}
	if out.Error != nil {
		return &jsonErr{status: resp.StatusCode, fault: plc.Fault{Code: out.Error.Code, Msg: out.Error.Message}}
	}
	if result != nil {
		return json.Unmarshal(out.Result, result)
	}
	return nil
}

// login trades a password for a JSON API token.
func (c *client) login(user, pw string) (string, error) {
	var r struct {
		Token string `json:"token"`
	}
	err := c.post("login", "", map[string]string{"username": user, "password": pw}, &r)
	return r.Token, err
}

// call runs a method through the JSON API with token.
func (c *client) call(token, method string, args ...any) (any, error) {
	var r any
	if args == nil {
		args = []any{}
	}
	err := c.post(method, token, args, &r)
	return r, err
}

// headerTransport adds headers to every request.
type headerTransport struct {
	h    http.Header
	next http.RoundTripper
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.next.RoundTrip(r)
}

// wireFault checks that err is fault code, from either API (the JSON
// API's with HTTP status status, if not 0).
func wireFault(t *testing.T, err error, code, status int) *plc.Fault {
	t.Helper()
	if je, ok := errors.AsType[*jsonErr](err); ok {
		if je.fault.Code != code || (status != 0 && je.status != status) {
			t.Fatalf("got %v, want fault %d (HTTP %d)", je, code, status)
		}
		return &je.fault
	}
	return fault(t, err, code)
}

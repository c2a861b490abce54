package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// Client is a small XML-RPC client, for tests and tools written in Go.
type Client struct {
	// URL is the endpoint, such as "http://127.0.0.1:8080/PLCAPI/".
	URL string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
	// MaxResponse bounds the response body; 0 means 64 MiB.
	MaxResponse int64
}

// NewClient returns a client of the endpoint url.
func NewClient(url string) *Client { return &Client{URL: url} }

// Call calls method with args, encoded as EncodeResponse encodes values,
// and returns the decoded result (the generic values DecodeCall yields:
// int64, float64, string, bool, nil, []any, map[string]any). A fault is
// returned as a *plc.Fault error; a non-200 answer as an error with the
// HTTP status and the start of the body.
func (c *Client) Call(ctx context.Context, method string, args ...any) (any, error) {
	body, err := EncodeCall(method, args...)
	if err != nil {
		return nil, fmt.Errorf("encode call: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", method, err)
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit == 0 {
		limit = 64 << 20
	}
	r := io.LimitReader(resp.Body, limit)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(r, 512))
		return nil, fmt.Errorf("call %s: HTTP %s: %s", method, resp.Status, bytes.TrimSpace(msg))
	}
	v, err := DecodeResponse(r)
	if err != nil {
		if _, ok := errors.AsType[*plc.Fault](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("decode %s response: %w", method, err)
	}
	return v, nil
}

// PasswordAuth returns the auth struct of the password method.
func PasswordAuth(email, password string) map[string]any {
	return map[string]any{"AuthMethod": "password", "Username": email, "AuthString": password}
}

// SessionAuth returns the auth struct of the session method.
func SessionAuth(session string) map[string]any {
	return map[string]any{"AuthMethod": "session", "session": session}
}

// AnonymousAuth returns the auth struct of the anonymous method.
func AnonymousAuth() map[string]any {
	return map[string]any{"AuthMethod": "anonymous"}
}

// faultValue reads <value><struct>faultCode, faultString</struct></value>
// and </fault>, returning the fault as a *plc.Fault (an error).
func (p *parser) faultValue() (any, error) {
	if err := p.expectStart("value"); err != nil {
		return nil, err
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	code, ok := m["faultCode"].(int64)
	msg, ok2 := m["faultString"].(string)
	if !ok || !ok2 {
		return nil, errors.New("malformed fault: want a struct of faultCode and faultString")
	}
	return &plc.Fault{Code: int(code), Msg: msg}, p.expectEnd()
}

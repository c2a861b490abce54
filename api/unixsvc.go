package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// unixService is the client side of a node-local JSON service on a Unix
// socket (the node manager's, the admin service's): every call goes to
// base+op, and an error answer carries {"error": "..."}.
type unixService struct {
	http *http.Client
	name string // the service in errors: "node manager"
	base string // the URL calls are under: "http://nm/v1/"
	// callError is the error of an answer with status (not 2xx) and msg.
	callError func(status int, msg string) error
}

// newUnixService returns a client of the service listening on socket.
func newUnixService(socket, name, base string, callError func(int, string) error) unixService {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return unixService{http: &http.Client{Transport: tr}, name: name, base: base, callError: callError}
}

// call sends in as JSON (nil: no body) by method to op and decodes the
// answer into out (nil: the answer is not read).
func (s *unixService) call(ctx context.Context, method, op string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s request: %w", op, err)
		}
	}
	return s.do(ctx, method, op, body, out)
}

// do sends body (nil: none) by method to op and decodes the answer into
// out (nil: the answer is not read).
func (s *unixService) do(ctx context.Context, method, op string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+op, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name, op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name, op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", s.name, op, err)
	}
	if res.StatusCode/100 != 2 {
		return s.answerError(op, res.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", s.name, op, err)
	}
	return nil
}

// errorOf turns res, an error answer to op, into the service's call error.
func (s *unixService) errorOf(op string, res *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return s.answerError(op, res.StatusCode, data)
}

// answerError is the call error of an answer to op with status and body
// data: its {"error": ...} message, or else its text.
func (s *unixService) answerError(op string, status int, data []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	return s.callError(status, op+": "+e.Error)
}

package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NodeClient is a node's client of central's node channel (see NodePath):
// it follows the node's sliver list and reports its slivers' states,
// signing every request with the node's secret. It is safe for concurrent
// use.
type NodeClient struct {
	base   string
	nodeID int64
	secret string
	http   *http.Client
}

// NodeCallError is a request central answered with an error status.
type NodeCallError struct {
	// Status is the HTTP status: 400 bad request, 401 authentication
	// refused, 413 body too large, 429 too many failed registrations.
	Status int
	Msg    string
}

func (e *NodeCallError) Error() string { return e.Msg }

// nodeMaxResponse bounds what the client reads of an answer.
const nodeMaxResponse = 64 << 20

// NewNodeClient returns a client of the central at baseURL (scheme, host
// and port, e.g. "https://plc.example.org") for node nodeID with its
// secret. hc nil means a client of its own.
func NewNodeClient(baseURL string, nodeID int64, secret string, hc *http.Client) *NodeClient {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return &NodeClient{base: strings.TrimRight(baseURL, "/"), nodeID: nodeID, secret: secret, http: hc}
}

// NodeID returns the node the client speaks for.
func (c *NodeClient) NodeID() int64 { return c.nodeID }

// RegisterNode trades a one-time registration token for the node's id and
// secret at the central at baseURL. hc nil means http.DefaultClient.
func RegisterNode(ctx context.Context, baseURL string, hc *http.Client, req NodeRegisterRequest) (NodeRegisterResponse, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &NodeClient{base: strings.TrimRight(baseURL, "/"), http: hc}
	body, err := json.Marshal(req)
	if err != nil {
		return NodeRegisterResponse{}, fmt.Errorf("register node: %w", err)
	}
	var resp NodeRegisterResponse
	if err := c.do(ctx, http.MethodPost, "register", body, false, &resp); err != nil {
		return NodeRegisterResponse{}, fmt.Errorf("register node: %w", err)
	}
	return resp, nil
}

// Slivers returns the node's sliver list once its version differs from
// since, or after central's long-poll period (about 25 s) in any case. A
// negative since asks for the current list at once.
func (c *NodeClient) Slivers(ctx context.Context, since int64) (Slivers, error) {
	op := "slivers"
	if since >= 0 {
		op += "?since=" + strconv.FormatInt(since, 10)
	}
	// Central answers within its long-poll period; a connection silent
	// for much longer than that is dead.
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	// An unchanged list at the end of the long-poll period comes back as
	// 204 No Content: the answer is then the version asked about, with no
	// slivers, and the caller keeps the list it has.
	list := Slivers{NodeID: c.nodeID, Version: since}
	err := c.do(ctx, http.MethodGet, op, nil, true, &list)
	return list, err
}

// Report tells central the state of each of the node's slivers.
func (c *NodeClient) Report(ctx context.Context, reports []SliverReport) error {
	if reports == nil {
		reports = []SliverReport{}
	}
	body, err := json.Marshal(reports)
	if err != nil {
		return fmt.Errorf("report slivers: %w", err)
	}
	return c.do(ctx, http.MethodPost, "report", body, true, nil)
}

func (c *NodeClient) do(ctx context.Context, method, op string, body []byte, sign bool, resp any) error {
	uri := NodePath + op
	req, err := http.NewRequestWithContext(ctx, method, c.base+uri, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("central %s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign {
		if err := c.sign(req, method, uri, body); err != nil {
			return err
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("central %s: %w", op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, nodeMaxResponse))
	if err != nil {
		return fmt.Errorf("central %s: read answer: %w", op, err)
	}
	if res.StatusCode/100 != 2 {
		return &NodeCallError{Status: res.StatusCode, Msg: "central " + op + ": " + nodeErrorText(data, res.Status)}
	}
	if resp == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("central %s: decode answer: %w", op, err)
	}
	return nil
}

func (c *NodeClient) sign(req *http.Request, method, uri string, body []byte) error {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return fmt.Errorf("request nonce: %w", err)
	}
	nonce := hex.EncodeToString(n[:])
	now := time.Now().Unix()
	req.Header.Set(NodeHeaderID, strconv.FormatInt(c.nodeID, 10))
	req.Header.Set(NodeHeaderTime, strconv.FormatInt(now, 10))
	req.Header.Set(NodeHeaderNonce, nonce)
	req.Header.Set(NodeHeaderSignature, NodeSignature(c.secret, method, uri, now, nonce, body))
	return nil
}

// nodeErrorText is the message of an error answer: its JSON "error" field, or
// the text itself, or the status line.
func nodeErrorText(data []byte, status string) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(string(data)); s != "" && len(s) < 500 {
		return s
	}
	return status
}

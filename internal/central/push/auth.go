package push

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

// authenticate checks a node request's signature (the scheme is described
// in package api, at NodePath) and returns the node and the request body,
// read whole but never beyond limit.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, limit int64) (int64, []byte, error) {
	node, t, nonce, sig, err := authHeaders(r)
	if err != nil {
		return 0, nil, err
	}
	now := h.now()
	if skew := now.Unix() - t; skew > api.NodeAuthMaxSkew || skew < -api.NodeAuthMaxSkew {
		return 0, nil, errorf(http.StatusUnauthorized,
			"node auth: request time %d is %d s from central's clock (max %d): set the node's clock (NTP)",
			t, skew, api.NodeAuthMaxSkew)
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return 0, nil, err
	}
	secret, err := h.src.NodeSecret(r.Context(), node)
	if errors.Is(err, ErrDenied) {
		return 0, nil, errorf(http.StatusUnauthorized, "node auth: unknown node %d (register it again)", node)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("node %d secret: %w", node, err)
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	want := api.NodeSignature(secret, r.Method, uri, t, nonce, body)
	wantRaw, _ := hex.DecodeString(want)
	if !hmac.Equal(sig, wantRaw) {
		return 0, nil, errorf(http.StatusUnauthorized, "node auth: bad signature for node %d", node)
	}
	if !h.nonces.add(node, nonce, t+api.NodeAuthMaxSkew+1, now.Unix()) {
		return 0, nil, errorf(http.StatusUnauthorized, "node auth: replayed request (nonce seen before)")
	}
	return node, body, nil
}

// authHeaders parses the authentication headers.
func authHeaders(r *http.Request) (node, t int64, nonce string, sig []byte, err error) {
	get := func(name string) string { return r.Header.Get(name) }
	node, err1 := strconv.ParseInt(get(api.NodeHeaderID), 10, 64)
	t, err2 := strconv.ParseInt(get(api.NodeHeaderTime), 10, 64)
	nonce = get(api.NodeHeaderNonce)
	n, err3 := hex.DecodeString(nonce)
	sig, err4 := hex.DecodeString(get(api.NodeHeaderSignature))
	switch {
	case err1 != nil || node <= 0:
		err = errorf(http.StatusUnauthorized, "node auth: header %s missing or not a node id", api.NodeHeaderID)
	case err2 != nil:
		err = errorf(http.StatusUnauthorized, "node auth: header %s missing or not Unix seconds", api.NodeHeaderTime)
	case err3 != nil || len(n) != 16 || nonce != hex.EncodeToString(n):
		err = errorf(http.StatusUnauthorized, "node auth: header %s missing or not 32 lower-case hex digits", api.NodeHeaderNonce)
	case err4 != nil || len(sig) != 32:
		err = errorf(http.StatusUnauthorized, "node auth: header %s missing or not 64 hex digits", api.NodeHeaderSignature)
	}
	return node, t, nonce, sig, err
}

// readBody reads the whole body, refusing one over limit before reading it
// whole: at once if its declared length is over, else at limit+1 bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is over the limit of %d", r.ContentLength, limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return data, nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "request body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "request body: trailing data after the JSON value")
	}
	return nil
}

// nonceCache remembers the nonces of authenticated requests until their
// time falls out of the replay window, so that a captured request cannot
// be replayed to this process.
type nonceCache struct {
	// mu guards the following.
	mu        sync.Mutex
	seen      map[nonceKey]int64 // -> when it may be forgotten (Unix s)
	nextPrune int64
}

type nonceKey struct {
	node  int64
	nonce string
}

func newNonceCache() *nonceCache { return &nonceCache{seen: map[nonceKey]int64{}} }

// add records nonce until forget, and reports whether it was new.
func (c *nonceCache) add(node int64, nonce string, forget, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now >= c.nextPrune {
		for k, until := range c.seen {
			if until < now {
				delete(c.seen, k)
			}
		}
		c.nextPrune = now + 30
	}
	k := nonceKey{node, nonce}
	if _, ok := c.seen[k]; ok {
		return false
	}
	c.seen[k] = forget
	return true
}

// Registration failures allowed per client address and window.
const (
	registerFailures = 10
	registerWindow   = time.Minute
)

// failLimiter counts failures per client and refuses a client that had
// too many in the current window.
type failLimiter struct {
	max    int
	window time.Duration

	// mu guards the following.
	mu      sync.Mutex
	clients map[string]*failCount
}

type failCount struct {
	n     int
	reset time.Time
}

func newFailLimiter(max int, window time.Duration) *failLimiter {
	return &failLimiter{max: max, window: window, clients: map[string]*failCount{}}
}

// allow reports whether client may try again now, and if not, how long
// it must wait.
func (l *failLimiter) allow(client string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[client]
	if c == nil || !now.Before(c.reset) {
		return 0, true
	}
	if c.n < l.max {
		return 0, true
	}
	return c.reset.Sub(now), false
}

// fail counts one failure of client.
func (l *failLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.clients) > 100000 {
		for k, c := range l.clients {
			if !now.Before(c.reset) {
				delete(l.clients, k)
			}
		}
	}
	c := l.clients[client]
	if c == nil || !now.Before(c.reset) {
		c = &failCount{reset: now.Add(l.window)}
		l.clients[client] = c
	}
	c.n++
}

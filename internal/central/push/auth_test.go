package push

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// signed is a node request with headers a test can spoil.
type signed struct {
	method, uri string
	body        []byte
	node        string
	time        int64
	nonce       string
	sig         string
}

func sign(node int64, secret, method, uri string, body []byte) signed {
	now := time.Now().Unix()
	nonce := strconv.FormatInt(time.Now().UnixNano(), 16)
	nonce = strings.Repeat("0", 32-len(nonce)) + nonce
	return signed{method: method, uri: uri, body: body, node: strconv.FormatInt(node, 10), time: now,
		nonce: nonce, sig: api.NodeSignature(secret, method, uri, now, nonce, body)}
}

func (e *env) send(s signed) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(s.method, e.srv.URL+s.uri, bytes.NewReader(s.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(api.NodeHeaderID, s.node)
	req.Header.Set(api.NodeHeaderTime, strconv.FormatInt(s.time, 10))
	req.Header.Set(api.NodeHeaderNonce, s.nonce)
	req.Header.Set(api.NodeHeaderSignature, s.sig)
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// TestAuthRefusals checks that every kind of bad node request is refused
// with 401 and a message saying what is wrong, and that a good one passes.
func TestAuthRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	e.src.AddNode(1, "right-secret")
	e.src.AddNode(2, "other-secret")
	const uri = api.NodePath + "slivers"
	good := func() signed { return sign(1, "right-secret", "GET", uri, nil) }
	replayed := good()
	if st, body := e.send(replayed); st != 200 {
		t.Fatalf("good request: %d %s", st, body)
	}
	tests := []struct {
		name string
		req  signed
		msg  string
	}{
		{"wrong secret", sign(1, "wrong-secret", "GET", uri, nil), "bad signature"},
		{"another node's secret", sign(1, "other-secret", "GET", uri, nil), "bad signature"},
		{"unknown node", sign(99, "right-secret", "GET", uri, nil), "unknown node 99"},
		{"query changed", func() signed { s := good(); s.uri += "?since=5"; return s }(), "bad signature"},
		{"method changed", func() signed {
			s := good()
			s.method = "POST"
			s.uri = api.NodePath + "report"
			s.body = []byte("[]")
			return s
		}(), "bad signature"},
		{"body changed", func() signed {
			s := sign(1, "right-secret", "POST", api.NodePath+"report", []byte("[]"))
			s.body = []byte(`[{"name":"pl_x","state":"running"}]`)
			return s
		}(), "bad signature"},
		{"time changed", func() signed { s := good(); s.time--; return s }(), "bad signature"},
		{"stale time", func() signed {
			s := good()
			s.time -= 301
			s.sig = api.NodeSignature("right-secret", "GET", uri, s.time, s.nonce, nil)
			return s
		}(), "from central's clock"},
		{"future time", func() signed {
			s := good()
			s.time += 301
			s.sig = api.NodeSignature("right-secret", "GET", uri, s.time, s.nonce, nil)
			return s
		}(), "from central's clock"},
		{"replayed", replayed, "replayed"},
		{"no node header", func() signed { s := good(); s.node = ""; return s }(), "X-Orbis-Node"},
		{"short nonce", func() signed { s := good(); s.nonce = "abc"; return s }(), "X-Orbis-Nonce"},
		{"truncated signature", func() signed { s := good(); s.sig = s.sig[:20]; return s }(), "X-Orbis-Signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := e.send(tt.req)
			if st != http.StatusUnauthorized || !strings.Contains(body, tt.msg) {
				t.Fatalf("got %d %s; want 401 containing %q", st, body, tt.msg)
			}
		})
	}
	if _, n := e.src.Reports(1); n != 0 {
		t.Fatalf("a refused report was recorded")
	}
}

// TestOversizeBodies checks that bodies over the limits are refused with
// 413, whether their length is declared or not.
func TestOversizeBodies(t *testing.T) {
	e := newEnv(t, Options{})
	e.src.AddNode(1, "s")
	big := []byte("[" + strings.Repeat(`{"name":"pl_x","state":"running"},`, MaxReportBody/30) + "{}]")
	if st, body := e.send(sign(1, "s", "POST", api.NodePath+"report", big)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize report: %d %s", st, body)
	}
	// Chunked, with no declared length: refused at the limit.
	s := sign(1, "s", "POST", api.NodePath+"report", big)
	req, _ := http.NewRequest("POST", e.srv.URL+s.uri, io.MultiReader(bytes.NewReader(big)))
	req.Header.Set(api.NodeHeaderID, s.node)
	req.Header.Set(api.NodeHeaderTime, strconv.FormatInt(s.time, 10))
	req.Header.Set(api.NodeHeaderNonce, s.nonce)
	req.Header.Set(api.NodeHeaderSignature, s.sig)
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
		t.Fatalf("chunked oversize report: %d (content length %d)", res.StatusCode, req.ContentLength)
	}
	reg := []byte(`{"token":"` + strings.Repeat("x", MaxRegisterBody) + `"}`)
	res, err = e.hc.Post(e.srv.URL+api.NodePath+"register", "application/json", bytes.NewReader(reg))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize register: %d", res.StatusCode)
	}
	if _, n := e.src.Reports(1); n != 0 {
		t.Fatal("an oversize report was recorded")
	}
}

// TestReport checks that reports reach the source, and malformed ones
// are refused with a message.
func TestReport(t *testing.T) {
	e := newEnv(t, Options{})
	e.src.AddNode(3, "s")
	c := e.client(3, "s")
	want := []api.SliverReport{{Name: "pl_a", State: "running"}, {Name: "pl_b", State: "failed", Reason: "admission: cpu"}}
	if err := c.Report(testutil.Context(t), want); err != nil {
		t.Fatal(err)
	}
	got, n := e.src.Reports(3)
	if n != 1 || len(got) != 2 || got[1] != want[1] {
		t.Fatalf("reports %+v (%d)", got, n)
	}
	for body, msg := range map[string]string{
		`[{"name":"x","state":"running","extra":1}]`: "unknown field",
		`[{"name":`: "unexpected EOF",
		`[] []`:     "trailing data",
	} {
		st, text := e.send(sign(3, "s", "POST", api.NodePath+"report", []byte(body)))
		if st != http.StatusBadRequest || !strings.Contains(text, msg) {
			t.Errorf("report %s: %d %s; want 400 containing %q", body, st, text, msg)
		}
	}
}

// TestRegister checks registration with a one-time token, and that bad
// tokens are rate-limited per client.
func TestRegister(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := testutil.Context(t)
	e.src.AddToken("good-token", 42)
	e.src.AddToken("later-token", 43)
	req := api.NodeRegisterRequest{Token: "good-token", Hostname: "n1.example.org", IP: "192.0.2.7", Version: "1.0"}
	resp, err := api.RegisterNode(ctx, e.srv.URL, e.hc, req)
	if err != nil || resp.NodeID != 42 || resp.Secret == "" {
		t.Fatalf("register: %+v, %v", resp, err)
	}
	if l, err := e.client(resp.NodeID, resp.Secret).Slivers(ctx, -1); err != nil || l.Hostname != "n1.example.org" {
		t.Fatalf("slivers with the new secret: %+v, %v", l, err)
	}
	_, err = api.RegisterNode(ctx, e.srv.URL, e.hc, req)
	var ce *api.NodeCallError
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized || !strings.Contains(ce.Msg, "token refused") {
		t.Fatalf("reused token: %v", err)
	}
	bad := api.NodeRegisterRequest{Hostname: "n1", IP: "not-an-ip", Token: "x"}
	if _, err := api.RegisterNode(ctx, e.srv.URL, e.hc, bad); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("bad ip: %v", err)
	}
	for i := 0; i < registerFailures-1; i++ {
		req.Token = "guess-" + strconv.Itoa(i)
		api.RegisterNode(ctx, e.srv.URL, e.hc, req)
	}
	req.Token = "later-token"
	_, err = api.RegisterNode(ctx, e.srv.URL, e.hc, req)
	if !errors.As(err, &ce) || ce.Status != http.StatusTooManyRequests {
		t.Fatalf("after %d bad tokens, a good one got %v; want 429", registerFailures, err)
	}
}

// TestFailLimiterWindow checks the limiter forgets failures after its
// window.
func TestFailLimiterWindow(t *testing.T) {
	l := newFailLimiter(2, time.Minute)
	now := time.Unix(1000, 0)
	l.fail("a", now)
	l.fail("a", now)
	if _, ok := l.allow("a", now.Add(time.Second)); ok {
		t.Fatal("allowed after 2 failures of 2")
	}
	if _, ok := l.allow("b", now); !ok {
		t.Fatal("another client refused")
	}
	if _, ok := l.allow("a", now.Add(time.Minute)); !ok {
		t.Fatal("still refused after the window")
	}
}

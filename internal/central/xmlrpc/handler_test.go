package xmlrpc

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestFaultCodes(t *testing.T) {
	_, c, _ := toyServer(t)
	ctx := testutil.Context(t)
	tests := []struct {
		name   string
		method string
		args   []any
		code   int
		msg    string // part of the message
	}{
		{"unknown method", "NoSuchMethod", []any{adminAuth}, 100, "unknown method"},
		{"no auth", "Echo", nil, 101, "auth struct"},
		{"too many args", "EchoOne", []any{adminAuth, 1, 2}, 101, "takes 1 arguments after auth, got 2"},
		{"too few args", "EchoOne", []any{adminAuth}, 101, "got 0"},
		{"auth not a struct", "Echo", []any{"admin@x"}, 102, "auth struct"},
		{"argument type", "Fail", []any{adminAuth, "x"}, 102, "must be an int"},
		{"store conflict", "Conflict", []any{adminAuth}, 102, `conflict: login_base "x" exists`},
		{"wrong password", "Echo", []any{PasswordAuth("admin@x", "nope")}, 103, "wrong username or password"},
		{"unknown user", "Echo", []any{PasswordAuth("who@x", "secret")}, 103, "wrong username or password"},
		{"fault from method", "Fail", []any{adminAuth, 106}, 106, "failed as asked"},
		{"user not admin", "AdminOnly", []any{userAuth}, 108, "permission denied: AdminOnly is for admin"},
		{"anonymous not admin", "AdminOnly", []any{anonAuth}, 108, "permission denied"},
		{"node not admin", "AdminOnly", []any{map[string]any{"AuthMethod": "hmac", "node_id": 3}}, 108, "permission denied"},
		{"not implemented", "Fail", []any{adminAuth, 109}, 109, "failed as asked"},
		{"internal error", "Boom", []any{adminAuth}, 111, "reference"},
		{"panic", "Panic", []any{adminAuth}, 111, "reference"},
		{"authenticator error", "Echo", []any{map[string]any{"AuthMethod": "explode"}}, 111, "reference"},
		{"unencodable result", "Unencodable", []any{adminAuth}, 111, "reference"},
		{"cyclic result", "Cycle", []any{adminAuth}, 111, "reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Call(ctx, tt.method, tt.args...)
			f, ok := errors.AsType[*plc.Fault](err)
			if !ok {
				t.Fatalf("got %v, want fault %d", err, tt.code)
			}
			if f.Code != tt.code || !strings.Contains(f.Msg, tt.msg) {
				t.Errorf("got fault %d %q, want %d containing %q", f.Code, f.Msg, tt.code, tt.msg)
			}
			if strings.Contains(f.Msg, "hunter2") || strings.Contains(f.Msg, "postgres") || strings.Contains(f.Msg, "goroutine") {
				t.Errorf("fault shows internals: %q", f.Msg)
			}
		})
	}
}

func TestRolesAndAuthenticatorInputs(t *testing.T) {
	_, c, auth := toyServer(t)
	ctx := testutil.Context(t)
	for _, tt := range []struct {
		auth  map[string]any
		roles []any
	}{
		{adminAuth, []any{"admin"}},
		{PasswordAuth("pi@x", "secret"), []any{"pi"}},
		{anonAuth, []any{"anonymous"}},
		{map[string]any{"AuthMethod": "hmac", "node_id": 7, "value": "ab"}, []any{"node"}},
	} {
		got, err := c.Call(ctx, "WhoAmI", tt.auth)
		if err != nil {
			t.Fatal(err)
		}
		m := got.(map[string]any)
		if !reflect.DeepEqual(m["roles"], tt.roles) || m["addr"] != "127.0.0.1" {
			t.Errorf("auth %v: got roles %v addr %v, want %v 127.0.0.1", tt.auth, m["roles"], m["addr"], tt.roles)
		}
	}
	if _, err := c.Call(ctx, "Echo", adminAuth, "a", 2); err != nil {
		t.Fatal(err)
	}
	method, args, addr := auth.last()
	if method != "Echo" || !reflect.DeepEqual(args, []any{"a", int64(2)}) || addr != "127.0.0.1" {
		t.Errorf("authenticator saw %q %#v from %q, want Echo [a 2] from 127.0.0.1", method, args, addr)
	}
}

func TestMulticall(t *testing.T) {
	_, c, _ := toyServer(t)
	call := func(method string, params ...any) map[string]any {
		return map[string]any{"methodName": method, "params": params}
	}
	got, err := c.Call(testutil.Context(t), "system.multicall", []any{
		call("Echo", adminAuth, "one"),
		call("NoSuchMethod", adminAuth),
		call("AdminOnly", userAuth),
		"not a struct",
		call("system.multicall", []any{}),
		call("Boom", adminAuth),
		call("Unencodable", adminAuth),
		call("system.methodHelp", "EchoOne"),
		call("AdminOnly", adminAuth),
	})
	if err != nil {
		t.Fatal(err)
	}
	results := got.([]any)
	want := []any{[]any{[]any{"one"}}, 100, 108, 102, 102, 111, 111, []any{"Returns its argument."}, []any{int64(1)}}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d: %#v", len(results), len(want), results)
	}
	for i, w := range want {
		if code, isFault := w.(int); isFault {
			f, _ := results[i].(map[string]any)
			if f["faultCode"] != int64(code) || f["faultString"] == "" {
				t.Errorf("result %d = %#v, want fault %d", i, results[i], code)
			}
			continue
		}
		if !reflect.DeepEqual(results[i], w) {
			t.Errorf("result %d = %#v, want %#v", i, results[i], w)
		}
	}
}

func TestIntrospection(t *testing.T) {
	_, c, _ := toyServer(t)
	ctx := testutil.Context(t)
	got, err := c.Call(ctx, "system.listMethods")
	if err != nil {
		t.Fatal(err)
	}
	names := map[any]bool{}
	for _, n := range got.([]any) {
		names[n] = true
	}
	for _, n := range []string{"Echo", "AdminOnly", "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"} {
		if !names[n] {
			t.Errorf("listMethods lacks %s: %v", n, got)
		}
	}
	checks := []struct {
		method string
		args   []any
		want   any
	}{
		{"system.methodHelp", []any{"Echo"}, "Returns its arguments <as a list>."},
		{"system.methodHelp", []any{"system.multicall"}, "Runs several calls in one request: takes a list of {methodName, params}, returns for each a one-element list holding its result, or a {faultCode, faultString} struct."},
		{"system.methodSignature", []any{"Echo"}, []any{[]any{"array", "struct"}}},
		{"system.methodSignature", []any{"NoSignature"}, "undef"},
	}
	for _, ck := range checks {
		if got, err := c.Call(ctx, ck.method, ck.args...); err != nil || !reflect.DeepEqual(got, ck.want) {
			t.Errorf("%s%v = %#v, %v; want %#v", ck.method, ck.args, got, err, ck.want)
		}
	}
	for _, bad := range []struct {
		method string
		args   []any
		code   int
	}{
		{"system.methodHelp", []any{"Nope"}, 100},
		{"system.methodHelp", []any{1}, 102},
		{"system.methodHelp", nil, 101},
		{"system.listMethods", []any{1}, 101},
		{"system.multicall", []any{"x"}, 102},
	} {
		_, err := c.Call(ctx, bad.method, bad.args...)
		if f, ok := errors.AsType[*plc.Fault](err); !ok || f.Code != bad.code {
			t.Errorf("%s%v: got %v, want fault %d", bad.method, bad.args, err, bad.code)
		}
	}
}

func TestPage(t *testing.T) {
	srv, _, _ := toyServer(t)
	for _, tt := range []struct {
		method, query string
		want          []string
	}{
		{"GET", "", []string{"<h1>Orbis PLCAPI</h1>", `href="?methods"`}},
		{"GET", "?methods", []string{"<code>Echo</code>", "Returns its arguments &lt;as a list&gt;.", "system.multicall"}},
		{"HEAD", "", nil},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+"/PLCAPI/"+tt.query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s %s: %s %s", tt.method, tt.query, resp.Status, resp.Header.Get("Content-Type"))
		}
		for _, w := range tt.want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s %s: page lacks %q:\n%s", tt.method, tt.query, w, body)
			}
		}
	}
	resp, err := http.DefaultClient.Do(must(http.NewRequest("PUT", srv.URL+"/PLCAPI/", nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %s, want 405", resp.Status)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

const echoCall = `<?xml version="1.0"?><methodCall><methodName>EchoOne</methodName><params>` +
	`<param><value><struct><member><name>AuthMethod</name><value>anonymous</value></member></struct></value></param>` +
	`<param><value><int>5</int></value></param></params></methodCall>`

// post sends body with the content type ct and returns the status and body.
func post(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	req := must(http.NewRequest("POST", url, strings.NewReader(body)))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestContentType(t *testing.T) {
	srv, _, _ := toyServer(t)
	for _, tt := range []struct {
		ct   string
		want int
	}{
		{"text/xml", 200}, {"text/xml; charset=utf-8", 200}, {"Text/XML;charset=ISO-8859-1", 200},
		{"application/xml", 200}, {"", 200},
		{"text/plain", 415}, {"application/json", 415}, {"application/x-www-form-urlencoded", 415}, {"text/xml; =bad", 415},
	} {
		status, body := post(t, srv.URL+"/PLCAPI/", tt.ct, echoCall)
		if status != tt.want {
			t.Errorf("Content-Type %q: %d, want %d", tt.ct, status, tt.want)
		}
		if status == 200 && !strings.Contains(body, "<int>5</int>") {
			t.Errorf("Content-Type %q: body %s", tt.ct, body)
		}
	}
}

func TestMalformedRequestsGetFaults(t *testing.T) {
	srv, _, _ := toyServer(t)
	for _, body := range []string{
		"", "<methodCall>", "{\"json\": true}", strings.Repeat("<", 1000),
		`<methodCall><methodName>Echo</methodName><params><param><value>` + nested(1000) + `</value></param></params></methodCall>`,
		`<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>`,
	} {
		status, resp := post(t, srv.URL+"/PLCAPI/", "text/xml", body)
		_, err := DecodeResponse(strings.NewReader(resp))
		f, ok := errors.AsType[*plc.Fault](err)
		if status != 200 || !ok || f.Code != plc.FaultInvalidArg || !strings.Contains(f.Msg, "malformed XML-RPC request") {
			t.Errorf("body %.40q: %d %v, want fault 102", body, status, err)
		}
	}
}

// endlessReader yields prefix then 'a' up to three times MaxBodySize (so
// that a handler reading it whole fails the test instead of hanging it),
// counting what is read.
type endlessReader struct {
	prefix string
	n      int64
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.n >= 3*MaxBodySize {
		return 0, io.EOF
	}
	for i := range p {
		if r.n < int64(len(r.prefix)) {
			p[i] = r.prefix[r.n]
		} else {
			p[i] = 'a'
		}
		r.n++
	}
	return len(p), nil
}

func TestOversizeRefusedBeforeReadWhole(t *testing.T) {
	h := New(toyRegistry(), &fakeAuth{}, testutil.Logger(t))
	prefix := `<methodCall><methodName>Echo</methodName><params><param><value><string>`
	for _, declared := range []bool{false, true} {
		body := &endlessReader{prefix: prefix}
		req := httptest.NewRequest("POST", "/PLCAPI/", io.NopCloser(body))
		req.Header.Set("Content-Type", "text/xml")
		req.ContentLength = -1
		if declared {
			req.ContentLength = 1 << 40
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("declared=%v: status %d, want 413", declared, w.Code)
		}
		if body.n > MaxBodySize+64<<10 {
			t.Errorf("declared=%v: read %d bytes, limit %d", declared, body.n, MaxBodySize)
		}
		if declared && body.n != 0 {
			t.Errorf("declared too large, yet %d bytes read", body.n)
		}
	}
}

func TestBodyJustUnderLimitAccepted(t *testing.T) {
	_, c, _ := toyServer(t)
	s := strings.Repeat("x", MaxBodySize-1024)
	got, err := c.Call(testutil.Context(t), "EchoOne", anonAuth, s)
	if err != nil || got != s {
		t.Fatalf("a body under the limit: %v", err)
	}
}

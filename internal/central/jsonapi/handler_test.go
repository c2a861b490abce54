package jsonapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

var everyone = []string{"admin", "pi", "user", "tech", "node", "anonymous"}

// toyRegistry is a small method table standing in for the core's.
func toyRegistry() *plc.Registry {
	reg := plc.NewRegistry()
	add := func(name string, roles []string, lo, hi int, call func(context.Context, *plc.Caller, []any) (any, error)) {
		reg.Add(&plc.Method{Name: name, Help: name + " <help>", Roles: roles, MinArgs: lo, MaxArgs: hi, Call: call, Signature: []string{"array"}})
	}
	add("Echo", everyone, 0, 10, func(_ context.Context, _ *plc.Caller, args []any) (any, error) { return args, nil })
	add("AdminOnly", []string{"admin"}, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) { return 1, nil })
	add("Members", []string{"admin", "user"}, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) { return 1, nil })
	add("Fail", everyone, 1, 1, func(_ context.Context, _ *plc.Caller, args []any) (any, error) {
		code, _ := args[0].(int64)
		return nil, plc.Faultf(int(code), "failed as asked")
	})
	add("Boom", everyone, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) {
		return nil, errors.New("select: postgres://central:hunter2@db refused")
	})
	add("Conflict", everyone, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) {
		return nil, fmt.Errorf("add site: %w", fmt.Errorf("%w: login_base %q exists", store.ErrConflict, "x"))
	})
	add("Missing", everyone, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) {
		return nil, fmt.Errorf("delete: %w", fmt.Errorf("%w: site 9", store.ErrNotFound))
	})
	add("Unencodable", everyone, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) { return make(chan int), nil })
	add("Site", everyone, 0, 0, func(context.Context, *plc.Caller, []any) (any, error) {
		return api.Site{SiteID: 1, LoginBase: "one"}, nil
	})
	add("WhoAmI", everyone, 0, 0, func(ctx context.Context, c *plc.Caller, _ []any) (any, error) {
		return map[string]any{"person_id": c.PersonID, "roles": c.RoleNames(), "addr": plc.ClientAddr(ctx)}, nil
	})
	return reg
}

// fakeTokens knows two tokens and one password.
type fakeTokens struct{}

func (fakeTokens) AuthenticateToken(_ context.Context, token string) (*plc.Caller, error) {
	switch token {
	case "admintoken":
		return &plc.Caller{PersonID: 1, Roles: []int64{10}}, nil
	case "usertoken":
		return &plc.Caller{PersonID: 3, Roles: []int64{30}}, nil
	case "explode":
		return nil, errors.New("tokens: postgres://central:hunter2@db down")
	}
	return nil, plc.Faultf(plc.FaultAuth, "unknown or expired token; run orbis login")
}

func (fakeTokens) Logout(_ context.Context, token string) error {
	if token == "usertoken" {
		return nil
	}
	return plc.Faultf(plc.FaultAuth, "unknown or expired token")
}

func (fakeTokens) Login(ctx context.Context, username, password string) (string, error) {
	if username == "admin@x" && password == "secret" && plc.ClientAddr(ctx) == "127.0.0.1" {
		return "admintoken", nil
	}
	return "", plc.Faultf(plc.FaultAuth, "wrong username or password")
}

// reply is a decoded answer.
type reply struct {
	Result any `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func toyServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(New(toyRegistry(), fakeTokens{}, testutil.Logger(t)))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and decodes the answer.
func do(t *testing.T, method, url, token, ct, body string) (int, reply) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	b, _ := io.ReadAll(resp.Body)
	if method != "HEAD" {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, b)
		}
	}
	if resp.StatusCode != 200 && (r.Error == nil || r.Error.Message == "") {
		t.Errorf("%s %s: %d without an error message: %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, r
}

func TestCallsAndTypes(t *testing.T) {
	srv := toyServer(t)
	body := `[1, -2, 9007199254740993, 1.5, 1e3, true, null, "a<b&c'; DROP TABLE x; -- ü", [1, {"k": 2}], {}]`
	status, r := do(t, "POST", srv.URL+"/api/v1/Echo", "usertoken", "application/json", body)
	if status != 200 {
		t.Fatalf("status %d: %+v", status, r.Error)
	}
	// Check the types methods saw, not the JSON: Echo returns them as is,
	// so look at them through a method that reports Go types.
	reg := toyRegistry()
	reg.Add(&plc.Method{Name: "Types", Roles: everyone, MaxArgs: 10, Call: func(_ context.Context, _ *plc.Caller, args []any) (any, error) {
		return fmt.Sprintf("%#v", args), nil
	}})
	srv2 := httptest.NewServer(New(reg, fakeTokens{}, testutil.Logger(t)))
	defer srv2.Close()
	_, r = do(t, "POST", srv2.URL+"/api/v1/Types", "", "", body)
	want := fmt.Sprintf("%#v", []any{int64(1), int64(-2), int64(9007199254740993), 1.5, 1000.0, true, nil,
		"a<b&c'; DROP TABLE x; -- ü", []any{int64(1), map[string]any{"k": int64(2)}}, map[string]any{}})
	if r.Result != want {
		t.Errorf("method saw\n%v\nwant\n%v", r.Result, want)
	}
	for _, empty := range []string{"", "  \n", "null", "[]"} {
		if status, r := do(t, "POST", srv.URL+"/api/v1/Echo", "", "", empty); status != 200 || !reflect.DeepEqual(r.Result, []any{}) && r.Result != nil {
			t.Errorf("body %q: %d %#v, want no arguments", empty, status, r.Result)
		}
	}
	_, r = do(t, "POST", srv.URL+"/api/v1/Site", "", "", "")
	if site, _ := r.Result.(map[string]any); site["login_base"] != "one" || site["site_id"] != json.Number("1") {
		t.Errorf("Site = %#v, want json names", r.Result)
	}
}

func TestErrors(t *testing.T) {
	srv := toyServer(t)
	u := srv.URL + "/api/v1/"
	big := "[\"" + strings.Repeat("x", MaxBodySize) + "\"]"
	tests := []struct {
		name, path, token, ct, body string
		status, code                int
		msg                         string
	}{
		{"unknown method", "Nope", "", "", "", 404, 100, "GET /api/v1/ lists"},
		{"too many args", "Fail", "", "", "[1, 2]", 400, 101, "takes 1 arguments"},
		{"not an array", "Echo", "", "", `{"a": 1}`, 400, 102, "JSON array"},
		{"malformed", "Echo", "", "", `[1,`, 400, 102, "malformed JSON"},
		{"two values", "Echo", "", "", `[1] [2]`, 400, 102, "more than one value"},
		{"integer overflow", "Echo", "", "", `[99999999999999999999]`, 400, 102, "64-bit range"},
		{"too deep", "Echo", "", "", strings.Repeat("[", 100) + strings.Repeat("]", 100), 400, 102, "nested deeper"},
		{"wrong content type", "Echo", "", "text/plain", `[]`, 415, 102, "application/json"},
		{"form post", "Echo", "", "application/x-www-form-urlencoded", `a=b`, 415, 102, "application/json"},
		{"bad token", "Echo", "nope", "", "", 401, 103, "orbis login"},
		{"anonymous needs auth", "AdminOnly", "", "", "", 401, 103, "needs authentication"},
		{"user not admin", "AdminOnly", "usertoken", "", "", 403, 108, "permission denied"},
		{"fault 102", "Fail", "", "", "[102]", 400, 102, "failed as asked"},
		{"fault 103", "Fail", "", "", "[103]", 401, 103, "failed as asked"},
		{"fault 106", "Fail", "", "", "[106]", 500, 106, "failed as asked"},
		{"fault 108", "Fail", "", "", "[108]", 403, 108, "failed as asked"},
		{"not implemented", "Fail", "", "", "[109]", 501, 109, "failed as asked"},
		{"API error chosen by the method", "Fail", "", "", "[111]", 409, 111, "failed as asked"},
		{"store conflict", "Conflict", "", "", "", 409, 102, `conflict: login_base "x" exists`},
		{"store not found", "Missing", "", "", "", 404, 102, "not found: site 9"},
		{"internal error", "Boom", "", "", "", 500, 111, "reference"},
		{"unencodable result", "Unencodable", "", "", "", 500, 111, "reference"},
		{"authenticator error", "Echo", "explode", "", "", 500, 111, "reference"},
		{"too large", "Echo", "", "", big, 413, 102, "larger than"},
		{"login without password", "login", "", "", `{"username": "admin@x"}`, 400, 102, "password"},
		{"wrong password", "login", "", "", `{"username": "admin@x", "password": "x"}`, 401, 103, "wrong username or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, r := do(t, "POST", u+tt.path, tt.token, tt.ct, tt.body)
			if status != tt.status || r.Error == nil || r.Error.Code != tt.code || !strings.Contains(r.Error.Message, tt.msg) {
				t.Fatalf("got %d %+v, want %d code %d containing %q", status, r.Error, tt.status, tt.code, tt.msg)
			}
			if strings.Contains(r.Error.Message, "hunter2") || strings.Contains(r.Error.Message, "postgres") {
				t.Errorf("message shows internals: %q", r.Error.Message)
			}
		})
	}
}

func TestLoginThenCall(t *testing.T) {
	srv := toyServer(t)
	status, r := do(t, "POST", srv.URL+"/api/v1/login", "", "application/json", `{"username": "admin@x", "password": "secret"}`)
	if status != 200 {
		t.Fatalf("login: %d %+v", status, r.Error)
	}
	token := r.Result.(map[string]any)["token"].(string)
	status, r = do(t, "POST", srv.URL+"/api/v1/WhoAmI", token, "", "")
	if who, _ := r.Result.(map[string]any); status != 200 || !reflect.DeepEqual(who["roles"], []any{"admin"}) || who["addr"] != "127.0.0.1" {
		t.Errorf("WhoAmI with the login token: %d %#v", status, r.Result)
	}
	for token, want := range map[string]int{"": 401, "usertoken": 200, "admintoken": 200} {
		if status, _ := do(t, "POST", srv.URL+"/api/v1/Members", token, "", ""); status != want {
			t.Errorf("Members with token %q: %d, want %d", token, status, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	srv := toyServer(t)
	status, r := do(t, "GET", srv.URL+"/api/v1/", "", "", "")
	list, _ := r.Result.([]any)
	if status != 200 || len(list) != len(toyRegistry().Names()) {
		t.Fatalf("GET /api/v1/: %d %#v", status, r.Result)
	}
	first := list[0].(map[string]any)
	if first["name"] != "AdminOnly" || first["help"] != "AdminOnly <help>" || !reflect.DeepEqual(first["roles"], []any{"admin"}) {
		t.Errorf("first method %#v", first)
	}
	if status, r := do(t, "GET", srv.URL+"/api/v1/Echo", "", "", ""); status != 200 || r.Result.(map[string]any)["max_args"] != json.Number("10") {
		t.Errorf("GET Echo: %d %#v", status, r.Result)
	}
	if status, _ := do(t, "GET", srv.URL+"/api/v1/Nope", "", "", ""); status != 404 {
		t.Errorf("GET Nope: %d, want 404", status)
	}
	if status, _ := do(t, "DELETE", srv.URL+"/api/v1/Echo", "", "", ""); status != 405 {
		t.Errorf("DELETE: %d, want 405", status)
	}
}

// countingReader yields '[' then '1,' without end, counting what is read;
// past three times the limit it ends, so that a handler reading it whole
// fails the test instead of hanging it.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n > 3*MaxBodySize {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = '['
		if r.n > 0 {
			p[i] = "1,"[(r.n-1)%2]
		}
		r.n++
	}
	return len(p), nil
}

func TestOversizeRefusedBeforeReadWhole(t *testing.T) {
	h := New(toyRegistry(), fakeTokens{}, testutil.Logger(t))
	for _, length := range []int64{-1, MaxBodySize + 1} {
		body := &countingReader{}
		req := httptest.NewRequest("POST", "/api/v1/Echo", io.NopCloser(body))
		req.ContentLength = length
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("length %d: status %d, want 413: %s", length, w.Code, w.Body)
		}
		if body.n > MaxBodySize+64<<10 {
			t.Errorf("length %d: read %d bytes, limit %d", length, body.n, MaxBodySize)
		}
	}
}

func TestLogout(t *testing.T) {
	srv := toyServer(t)
	for _, tc := range []struct {
		token  string
		status int
	}{
		{"usertoken", http.StatusOK},
		{"", http.StatusUnauthorized},
		{"forged", http.StatusUnauthorized},
	} {
		status, r := do(t, "POST", srv.URL+"/api/v1/logout", tc.token, "", "")
		if status != tc.status {
			t.Errorf("logout with %q: %d, want %d", tc.token, status, tc.status)
		}
		if status == http.StatusOK && fmt.Sprint(r.Result) != "1" {
			t.Errorf("logout result %v", r.Result)
		}
		if status != http.StatusOK && (r.Error == nil || r.Error.Code != plc.FaultAuth) {
			t.Errorf("logout with %q: %+v", tc.token, r.Error)
		}
	}
}

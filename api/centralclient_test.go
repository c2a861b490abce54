package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeCentral answers like central's JSON API: login with one password,
// GetSites, AddSite and a method that fails with a fault.
func fakeCentral(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]string
		json.NewDecoder(r.Body).Decode(&req)
		if req["username"] != "pi@example.org" || req["password"] != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error": {"code": 103, "message": "wrong email or password"}}`)
			return
		}
		io.WriteString(w, `{"result": {"token": "tok1"}}`)
	})
	mux.HandleFunc("POST /api/v1/{method}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		switch r.PathValue("method") {
		case "Echo":
			// Echo answers the arguments and header it got.
			var args []any
			if len(body) > 0 {
				if err := json.Unmarshal(body, &args); err != nil {
					t.Errorf("Echo: body %q is not a JSON array: %v", body, err)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"args": args, "auth": auth, "empty": len(body) == 0}})
		case "GetSites":
			io.WriteString(w, `{"result": [{"site_id": 1, "login_base": "mit", "name": "MIT", "latitude": 42.36, "node_ids": [3, 4]}]}`)
		case "AddSite":
			if auth != "Bearer tok1" {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error": {"code": 103, "message": "AddSite needs authentication"}}`)
				return
			}
			io.WriteString(w, `{"result": 7}`)
		case "Proxy":
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>bad gateway</html>")
		case "Huge":
			io.WriteString(w, `{"result": "`)
			chunk := strings.Repeat("x", 1<<20)
			for range centralMaxResponse>>20 + 1 {
				io.WriteString(w, chunk)
			}
			io.WriteString(w, `"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error": {"code": 100, "message": "unknown method"}}`)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCentralCallArguments(t *testing.T) {
	srv := fakeCentral(t)
	ctx := context.Background()
	var got struct {
		Args  []any  `json:"args"`
		Auth  string `json:"auth"`
		Empty bool   `json:"empty"`
	}
	c := NewCentralClient(srv.URL+"/", "tok1")
	if err := c.Call(ctx, "Echo", &got, "one_slice", []any{int64(1), "node2"}); err != nil {
		t.Fatal(err)
	}
	if got.Auth != "Bearer tok1" || len(got.Args) != 2 || got.Args[0] != "one_slice" {
		t.Errorf("Echo saw %+v", got)
	}
	if err := NewCentralClient(srv.URL, "").Call(ctx, "Echo", &got); err != nil {
		t.Fatal(err)
	}
	if got.Auth != "" || !got.Empty {
		t.Errorf("an anonymous call without arguments sent auth %q, empty body %v", got.Auth, got.Empty)
	}
}

func TestCentralTypedCalls(t *testing.T) {
	srv := fakeCentral(t)
	ctx := context.Background()
	c := NewCentralClient(srv.URL, "tok1")
	sites, err := c.GetSites(ctx, "mit")
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].LoginBase != "mit" || sites[0].Latitude == nil || *sites[0].Latitude != 42.36 || len(sites[0].NodeIDs) != 2 {
		t.Errorf("GetSites = %+v", sites)
	}
	id, err := c.AddSite(ctx, map[string]any{"login_base": "cmu"})
	if err != nil || id != 7 {
		t.Errorf("AddSite = %d, %v; want 7", id, err)
	}
}

func TestCentralErrors(t *testing.T) {
	srv := fakeCentral(t)
	ctx := context.Background()
	tests := []struct {
		name, method, token string
		status, code        int
		msg                 string
	}{
		{"fault", "AddSite", "", 401, FaultAuth, "AddSite: AddSite needs authentication"},
		{"unknown method", "NoSuch", "tok1", 404, FaultInvalidMethod, "NoSuch: unknown method"},
		{"not JSON", "Proxy", "tok1", 502, 0, "Proxy: 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewCentralClient(srv.URL, tt.token).Call(ctx, tt.method, nil)
			var ce *CentralError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *CentralError", err, err)
			}
			if ce.Status != tt.status || ce.Code != tt.code || err.Error() != tt.msg {
				t.Errorf("err = %+v %q, want status %d code %d %q", ce, err, tt.status, tt.code, tt.msg)
			}
		})
	}
}

func TestCentralResponseLimit(t *testing.T) {
	srv := fakeCentral(t)
	var s string
	err := NewCentralClient(srv.URL, "").Call(context.Background(), "Huge", &s)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversize answer gave %v, want a refusal", err)
	}
}

func TestCentralUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	err = NewCentralClient(url, "").Call(context.Background(), "GetSites", nil)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "cannot reach central at "+url+": ") {
		t.Errorf("err = %v, want cannot reach central at %s", err, url)
	}
}

func TestCentralContextTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := NewCentralClient(srv.URL, "").Call(ctx, "GetSites", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}

func TestCentralLogin(t *testing.T) {
	srv := fakeCentral(t)
	c := NewCentralClient(srv.URL, "")
	tok, err := c.Login(context.Background(), "pi@example.org", "secret")
	if err != nil || tok != "tok1" {
		t.Errorf("Login = %q, %v; want tok1", tok, err)
	}
	_, err = c.Login(context.Background(), "pi@example.org", "wrong")
	var ce *CentralError
	if !errors.As(err, &ce) || ce.Code != FaultAuth || ce.Message != "wrong email or password" {
		t.Errorf("Login with a wrong password: %v", err)
	}
}

package httpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServe checks that Serve answers until its context is done, lets a
// call in progress finish, and then stops listening.
func TestServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(200 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, l, 5*time.Second) }()
	url := "http://" + l.Addr().String()
	if got := get(t, url+"/"); got != "ok" {
		t.Fatalf("GET / = %q, want ok", got)
	}
	slow := make(chan string, 1)
	go func() { slow <- get(t, url+"/slow") }()
	<-started
	cancel()
	if got := <-slow; got != "ok" {
		t.Errorf("call in progress at shutdown = %q, want ok", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if _, err := http.Get(url + "/"); err == nil {
		t.Error("server still answers after Serve returned")
	}
}

// TestServeListenerError checks that a failing listener ends Serve with an
// error before its context is done.
func TestServeListenerError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := Serve(context.Background(), &http.Server{}, l, time.Second); err == nil {
		t.Error("Serve on a closed listener = nil, want an error")
	}
}

func get(t *testing.T, url string) string {
	res, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

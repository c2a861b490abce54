package peercred

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type credKey struct{}

// serveTest serves h on a new socket with grace, and returns an HTTP
// client of the socket and a stop that ends the server and returns
// Serve's error.
func serveTest(t *testing.T, h http.Handler, grace time.Duration) (*http.Client, func() error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: h, MaxConns: 4, Grace: grace, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second,
		Log: slog.New(slog.DiscardHandler),
		Context: func(ctx context.Context, c Cred, ok bool) context.Context {
			if !ok {
				return ctx
			}
			return context.WithValue(ctx, credKey{}, c)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return fmt.Errorf("Serve did not return within 5s of its context's end")
		}
	}
	t.Cleanup(func() { stop() })
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return c, stop
}

// TestServerCallerCredentials: a handler knows its caller by the
// credentials the kernel gives for the connection.
func TestServerCallerCredentials(t *testing.T) {
	c, stop := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, ok := r.Context().Value(credKey{}).(Cred)
		if !ok {
			http.Error(w, "no credentials", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "%d %d", cred.PID, cred.UID)
	}), time.Second)
	resp, err := c.Get("http://unix/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %d", os.Getpid(), os.Getuid()); string(body) != want {
		t.Errorf("the handler saw caller %q, want %q", body, want)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestServerGraceZeroEndsStreams: with no grace, a call that streams
// without end has its context ended and its connection closed when the
// server's context ends, and Serve returns nil.
func TestServerGraceZeroEndsStreams(t *testing.T) {
	ended := make(chan struct{})
	c, stop := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("streaming\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(ended)
	}), 0)
	resp, err := c.Get("http://unix/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Fatal("the streaming call's context did not end with the server's")
	}
	io.ReadAll(resp.Body) // ends, with an error or not: the connection is closed
}

// TestServerGraceLetsCallsFinish: with a grace, a call in progress when
// the server's context ends still completes.
func TestServerGraceLetsCallsFinish(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	c, stop := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	}), 5*time.Second)
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://unix/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if s := <-got; !strings.Contains(s, "done") {
		t.Errorf("the call in progress got %q, want done", s)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

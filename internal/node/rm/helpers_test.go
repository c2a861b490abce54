package rm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

const (
	nodeID     = 1
	nodeSecret = "node-1-secret"
)

// env is a real node manager on a Unix socket (with a fake runtime and a
// fake clock) and a fake central serving the real node channel on
// loopback, which a test can take down and bring back.
type env struct {
	t       *testing.T
	nm      *nodemgr.Manager
	rt      *nodemgr.FakeRuntime
	clock   *nodemgr.FakeClock
	nmc     *api.NMClient
	src     *push.FakeSource
	srv     *httptest.Server
	down    atomic.Bool
	rmDir   string
	stopRM  func()
	central *api.NodeClient
	onList  func(api.Slivers) // Options.OnList of the next startRM
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rt, err := nodemgr.NewFakeRuntime("")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, rt: rt, clock: nodemgr.NewFakeClock(time.Unix(time.Now().Unix(), 0)), rmDir: t.TempDir()}
	e.startNM()
	e.startCentral()
	return e
}

func (e *env) startNM() {
	dir := e.t.TempDir()
	nm, err := nodemgr.Open(context.Background(), nodemgr.Options{
		StateDir: filepath.Join(dir, "nm"), Runtime: e.rt, Clock: e.clock, Log: testutil.Logger(e.t),
		Node: nodemgr.Node{MemoryBytes: 8 << 30, DiskBytes: 100 << 30},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sock := filepath.Join(dir, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { nm.Serve(ctx, l); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done; nm.Close() })
	e.nm, e.nmc = nm, api.NewNMClient(sock)
}

func (e *env) startCentral() {
	e.src = push.NewFakeSource()
	e.src.AddNode(nodeID, nodeSecret)
	hub := push.NewHub(e.src, testutil.Logger(e.t))
	e.src.OnChange = hub.Notify
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	h := push.NewHandler(e.src, hub, push.Options{LongPoll: 2 * time.Second, Log: testutil.Logger(e.t)})
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "central is down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	e.central = api.NewNodeClient(e.srv.URL, nodeID, nodeSecret, nil)
	e.t.Cleanup(func() { e.srv.Close(); cancel(); <-done })
}

// setDown takes central down (cutting the long-polls in progress) or
// brings it back.
func (e *env) setDown(down bool) {
	e.down.Store(down)
	if down {
		e.srv.CloseClientConnections()
	}
}

// startRM runs a resource manager until the test ends or stopRM.
func (e *env) startRM() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Central: e.central, NM: e.nmc, StateDir: e.rmDir, Log: testutil.Logger(e.t),
			Now: e.clock.Now, Every: 300 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, OnList: e.onList})
	}()
	stopped := false
	e.stopRM = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("rm.Run: %v", err)
		}
	}
	e.t.Cleanup(e.stopRM)
}

// list returns the node manager's state.
func (e *env) list() api.NMList {
	e.t.Helper()
	l, err := e.nmc.List(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// sliver returns the node manager's view of sliver name.
func (e *env) sliver(name string) (api.SliverInfo, bool) {
	for _, s := range e.list().Slivers {
		if s.Name == name {
			return s, true
		}
	}
	return api.SliverInfo{}, false
}

// report returns central's last report about name.
func (e *env) report(name string) (api.SliverReport, bool) {
	reports, _ := e.src.Reports(nodeID)
	for _, r := range reports {
		if r.Name == name {
			return r, true
		}
	}
	return api.SliverReport{}, false
}

// within polls cond every 5 ms for up to d and fails the test if it never
// holds.
// runSliver gives the node the one sliver s and waits until it runs.
func (e *env) runSliver(s api.Sliver) {
	e.t.Helper()
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(e.t, 2*time.Second, "running", func() bool { fs, ok := e.rt.Sliver(s.Name); return ok && fs.State == "running" })
}

func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// sliverOf is a listed sliver with a key, a boot script and rspec rs.
func (e *env) sliverOf(name string, rs api.Rspec, keys ...string) api.Sliver {
	s := api.Sliver{Name: name, SliceID: 1, Instantiation: "plc-instantiated",
		Expires: e.clock.Now().Add(time.Hour).Unix(), Rspec: rs,
		Attributes: []api.Attribute{{TagName: "initscript", Value: "#!/bin/sh\necho hello\n"}}}
	for _, k := range keys {
		s.Keys = append(s.Keys, api.SliverKey{KeyType: "ssh", Key: k})
	}
	return s
}

// status is the node manager's HTTP status of err, 0 if none: what a fake
// node manager in front of a real one answers with.
func status(err error) int {
	var ce *api.NMCallError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

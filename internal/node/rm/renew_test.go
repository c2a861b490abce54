package rm

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRenewalOnFullNode: a slice renewed on a node whose CPU guarantees
// are all held keeps its rcap (extended in place: a move would need room
// for two) and its sliver outlives its old expiry.
func TestRenewalOnFullNode(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	if _, err := e.nmc.Acquire(context.Background(), api.Rspec{CPUGuarantee: 400}); err != nil { // another broker
		t.Fatal(err)
	}
	e.startRM()
	s := e.sliverOf("pl_full", api.Rspec{CPUGuarantee: 600}, "ssh-ed25519 AAAA a@x")
	e.runSliver(s)
	before := e.boundRcap("pl_full")
	oldEnd := s.Expires

	s.Expires += 86400
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "renewed", func() bool { return e.boundRcap("pl_full").Rspec.End == s.Expires })
	if after := e.boundRcap("pl_full"); after.ID != before.ID {
		t.Errorf("renewal moved the sliver to rcap %s from %s: want the same rcap extended", after.ID, before.ID)
	}
	e.clock.Advance(time.Duration(oldEnd-e.clock.Now().Unix()+60) * time.Second)
	time.Sleep(500 * time.Millisecond) // the expiry loop and a reconcile look
	if fs, ok := e.rt.Sliver("pl_full"); !ok || fs.State != "running" {
		t.Fatalf("after its old expiry the sliver is %+v, %v: want running", fs, ok)
	}
	if r, _ := e.report("pl_full"); r.Reason != "" {
		t.Errorf("report after the renewal: %+v", r)
	}
}

// TestRenewalWithRefusedMove: a renewal that also asks for more than the
// node has keeps the sliver on its old resources, until its new end, and
// says so in its report; the sliver outlives its old expiry.
func TestRenewalWithRefusedMove(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	if _, err := e.nmc.Acquire(context.Background(), api.Rspec{CPUGuarantee: 400}); err != nil { // another broker
		t.Fatal(err)
	}
	e.startRM()
	s := e.sliverOf("pl_grow", api.Rspec{CPUGuarantee: 600}, "ssh-ed25519 AAAA a@x")
	e.runSliver(s)
	oldEnd := s.Expires

	s.Expires += 86400
	s.Rspec.CPUGuarantee = 700 // 100 more do not fit beside the other 400
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "refusal reported", func() bool {
		r, _ := e.report("pl_grow")
		return strings.Contains(r.Reason, "new resources refused")
	})
	within(t, 2*time.Second, "renewed", func() bool { return e.boundRcap("pl_grow").Rspec.End == s.Expires })
	e.clock.Advance(time.Duration(oldEnd-e.clock.Now().Unix()+60) * time.Second)
	time.Sleep(500 * time.Millisecond)
	if fs, ok := e.rt.Sliver("pl_grow"); !ok || fs.State != "running" || fs.Spec.Rspec.CPUGuarantee != 600 {
		t.Fatalf("after its old expiry the sliver is %+v, %v: want running on its old resources", fs, ok)
	}
}

// boundRcap returns the node manager's rcap bound to slice name.
func (e *env) boundRcap(name string) api.RcapInfo {
	e.t.Helper()
	for _, r := range e.list().Rcaps {
		if r.Bound == name {
			return r
		}
	}
	return api.RcapInfo{}
}

// TestRenewalRefusedReported: when the node manager refuses even the
// extension, the sliver keeps its old end, central hears why (the
// sliver's report says when it ends), and the renewal is retried until
// the node takes it.
func TestRenewalRefusedReported(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	var refuse atomic.Bool
	refuse.Store(true)
	e.nmc = refusingProxy(t, e.nmc, &refuse, "amend", "extend")
	e.startRM()
	s := e.sliverOf("pl_kept", api.Rspec{CPUShares: 1}, "ssh-ed25519 AAAA a@x")
	e.runSliver(s)
	oldEnd := s.Expires

	s.Expires += 86400
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	old := time.Unix(oldEnd, 0).UTC().Format(time.RFC3339)
	within(t, 2*time.Second, "refusal reported", func() bool {
		r, _ := e.report("pl_kept")
		return r.State == "running" && strings.Contains(r.Reason, "renewal not in force, the sliver still ends at "+old) &&
			strings.Contains(r.Reason, "the node says no")
	})
	if got := e.boundRcap("pl_kept").Rspec.End; got != oldEnd {
		t.Fatalf("end %d after a refused renewal, want the old %d", got, oldEnd)
	}
	refuse.Store(false)
	within(t, 2*time.Second, "renewed on a retry", func() bool { return e.boundRcap("pl_kept").Rspec.End == s.Expires })
	within(t, 2*time.Second, "report cleared", func() bool { r, _ := e.report("pl_kept"); return r.Reason == "" })
}

// refusingProxy serves the node manager behind c on a socket of its own,
// answering ops with 409 while refuse holds, and returns a client of it.
func refusingProxy(t *testing.T, c *api.NMClient, refuse *atomic.Bool, ops ...string) *api.NMClient {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if op := strings.TrimPrefix(r.URL.Path, "/v1/"); slices.Contains(ops, op) && refuse.Load() {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.NMError{Error: op + ": the node says no"})
			return
		}
		out, err := c.Raw(r.Context(), strings.TrimPrefix(r.URL.Path, "/v1/"), body)
		if err != nil {
			w.WriteHeader(cmp.Or(status(err), http.StatusBadGateway))
			json.NewEncoder(w).Encode(api.NMError{Error: err.Error()})
			return
		}
		w.Write(out)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return api.NewNMClient(sock)
}

// TestRenewalOfBroker: a broker slice renewed on a full node keeps its
// rcap, extended with its delegation and pool, past its old expiry.
func TestRenewalOfBroker(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	if _, err := e.nmc.Acquire(context.Background(), api.Rspec{CPUGuarantee: 800}); err != nil { // another broker
		t.Fatal(err)
	}
	e.startRM()
	s := e.sliverOf("pl_broker", api.Rspec{CPUGuarantee: 100, Privileges: api.Privileges{NodeManager: true}})
	s.Rspec.Delegated = &api.Rspec{CPUGuarantee: 100, Slivers: 1, End: s.Expires, Privileges: api.Privileges{CreateSliver: true}}
	e.runSliver(s)
	before := e.boundRcap("pl_broker")
	oldEnd := s.Expires

	s.Expires += 86400
	s.Rspec.Delegated.End = s.Expires
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "renewed", func() bool { return e.boundRcap("pl_broker").Rspec.End == s.Expires })
	if after := e.boundRcap("pl_broker"); after.ID != before.ID || after.Rspec.Delegated.End != s.Expires {
		t.Errorf("after the renewal: rcap %s (was %s), delegation %+v", after.ID, before.ID, after.Rspec.Delegated)
	}
	pools := 0
	for _, r := range e.list().Rcaps {
		if r.Owner == "slice:pl_broker" && r.Rspec.End == s.Expires {
			pools++
		}
	}
	if pools != 1 {
		t.Errorf("the broker's pool does not end with its renewed delegation: %+v", e.list().Rcaps)
	}
	e.clock.Advance(time.Duration(oldEnd-e.clock.Now().Unix()+60) * time.Second)
	time.Sleep(500 * time.Millisecond)
	if fs, ok := e.rt.Sliver("pl_broker"); !ok || fs.State != "running" {
		t.Fatalf("after its old expiry the broker's sliver is %+v, %v", fs, ok)
	}
	if r, _ := e.report("pl_broker"); r.Reason != "" {
		t.Errorf("report after the renewal: %+v", r)
	}
}

// TestChangeWithOwnPorts: a slice that reserves ports gets a lowered
// rate, then another port, on the rcap it holds (a second rcap would find
// its ports taken by the first), and keeps its ports throughout; a full
// node lowers a guarantee too.
func TestChangeWithOwnPorts(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	if _, err := e.nmc.Acquire(context.Background(), api.Rspec{CPUGuarantee: 400}); err != nil { // another broker
		t.Fatal(err)
	}
	e.startRM()
	tcp := func(p uint16) api.Port { return api.Port{Proto: "tcp", Port: p} }
	s := e.sliverOf("pl_ports", api.Rspec{CPUGuarantee: 600, Ports: []api.Port{tcp(8080)}}, "ssh-ed25519 AAAA a@x")
	e.runSliver(s)
	before := e.boundRcap("pl_ports")

	s.Rspec.NetMaxRate, s.Rspec.CPUGuarantee = 1000, 300
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "rate applied", func() bool {
		fs, _ := e.rt.Sliver("pl_ports")
		return fs.Spec.Rspec.NetMaxRate == 1000 && fs.Spec.Rspec.CPUGuarantee == 300 && slices.Equal(fs.Spec.Rspec.Ports, s.Rspec.Ports)
	})
	s.Rspec.Ports = []api.Port{tcp(8080), tcp(9090)}
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "port added", func() bool {
		fs, _ := e.rt.Sliver("pl_ports")
		return slices.Equal(fs.Spec.Rspec.Ports, s.Rspec.Ports)
	})
	if after := e.boundRcap("pl_ports"); after.ID != before.ID {
		t.Errorf("the change moved the sliver to rcap %s from %s: want the same rcap amended", after.ID, before.ID)
	}
	if _, err := e.nmc.Acquire(context.Background(), api.Rspec{Ports: []api.Port{tcp(9090)}, End: s.Expires}); err == nil {
		t.Error("another rcap got tcp/9090, which the slice now reserves")
	}
	within(t, 2*time.Second, "report clear", func() bool { r, _ := e.report("pl_ports"); return r.Reason == "" })
}

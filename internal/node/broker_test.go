package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

const policyNodeEntry = "orbis-test-policy-node"

func init() {
	reexec.Register(policyNodeEntry, func() {
		err := Run(context.Background(), Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3],
			PolicyPath: os.Args[4], Uplink: "none", SSHAddr: "", SensorAddr: "", AuditAddr: "",
			SniffGroup: uint16(1000 + os.Getpid()%30000), Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// brokerNode is a node agent in a child process, with a local policy and
// a static node manager client in its image at /bin/nmclient.
type brokerNode struct {
	*testNode
	exec *Node // the node opened for exec, as `orbis sliver exec` does
}

func startBrokerNode(t *testing.T, policy string) *brokerNode {
	testutil.RequireRoot(t)
	state := t.TempDir()
	tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-broker-%d", os.Getpid())}
	ctx := testutil.Context(t)
	images := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t))
	if _, err := images.Build(ctx, "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
	img, err := images.Path("busybox")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(img, "bin", "nmclient"), "./testdata/nmclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the client: %v\n%s", err, out)
	}
	policyPath := filepath.Join(state, "policy")
	if err := os.WriteFile(policyPath, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	n := tn.spawn(policyNodeEntry, policyPath)
	t.Cleanup(func() {
		n.Close()
		// Destroy the brokers' customers before the brokers, whose pools
		// take them along.
		l, _ := tn.client.List(context.Background())
		for _, s := range l.Slivers {
			if strings.HasPrefix(s.Name, "pl_customer") {
				tn.client.Destroy(context.Background(), s.Name)
			}
		}
	})
	return &brokerNode{testNode: tn, exec: n}
}

// call runs nmclient in slice's sliver as a user (uid 1000) and returns
// its output and whether it succeeded.
func (b *brokerNode) call(t *testing.T, slice string, args ...string) (string, bool) {
	t.Helper()
	var out bytes.Buffer
	p, err := b.exec.Slivers.Exec(testutil.Context(t), slice, sandbox.Cmd{Args: append([]string{"/bin/nmclient"}, args...),
		UID: 1000, GID: 1000, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("exec in %s: %v", slice, err)
	}
	code, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String()), code == 0
}

func (b *brokerNode) mustCall(t *testing.T, slice string, args ...string) string {
	t.Helper()
	out, ok := b.call(t, slice, args...)
	if !ok {
		t.Fatalf("%s: nmclient %v: %s", slice, args, out)
	}
	return out
}

func (b *brokerNode) refused(t *testing.T, slice, want string, args ...string) {
	t.Helper()
	out, ok := b.call(t, slice, args...)
	if ok || !strings.Contains(out, want) {
		t.Fatalf("%s: nmclient %v: %q, want a refusal containing %q", slice, args, out, want)
	}
}

// bindAs binds slice as central with rspec rs.
func (b *brokerNode) bindAs(t *testing.T, slice string, rs api.Rspec) {
	t.Helper()
	ctx := testutil.Context(t)
	rs.Privileges.CreateSliver = true
	rc, err := b.client.Acquire(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.Bind(ctx, slice, rc, api.BindAttrs{InitScript: "exec sleep 1000"}); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerInSliver: a slice with the node manager privilege and a
// delegation splits its pool and binds new slices' slivers from inside its
// sliver, and is refused beyond the delegation and the local policy; a
// slice without the privilege has no /run/orbis-nm; a passed rcap works
// for the receiver and not the giver; max_slivers holds. The broker binds
// no name central did not give it (issue 18's squat), acquires nothing
// without an end, and when central takes its privilege away every
// sliver on what it acquired goes.
func TestBrokerInSliver(t *testing.T) {
	b := startBrokerNode(t, "max_slivers 6\nbroker pl_broker cpu_guarantee=50 net_min_rate=1mbit slivers=2\nbroker * net_min_rate=1mbit slivers=1\n")
	ctx := testutil.Context(t)
	nm := api.Privileges{NodeManager: true}
	b.bindAs(t, "pl_broker", api.Rspec{Privileges: nm, Delegated: &api.Rspec{CPUGuarantee: 200, Slivers: 2,
		Privileges: api.Privileges{CreateSliver: true}}, BindSlices: []string{"pl_customer", "pl_customer2", "pl_customer3"}})
	b.bindAs(t, "pl_other", api.Rspec{Privileges: nm, BindSlices: []string{"pl_customer_other", "pl_seventh"}})
	end := fmt.Sprintf(`"end":%d`, time.Now().Add(time.Hour).Unix())
	b.bindAs(t, "pl_plain", api.Rspec{})

	// The unprivileged slice cannot reach the node manager at all.
	var out bytes.Buffer
	p, err := b.exec.Slivers.Exec(ctx, "pl_plain", sandbox.Cmd{Args: []string{"/bin/sh", "-c", "ls -d /run/orbis-nm 2>&1; /bin/nmclient rcaps"}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(); code == 0 || !strings.Contains(out.String(), "No such file") || !strings.Contains(out.String(), "ERR 0") {
		t.Fatalf("unprivileged sliver: code %d, %q: want no /run/orbis-nm and a failed connect", code, out.String())
	}

	var rcaps api.NMRcaps
	json.Unmarshal([]byte(b.mustCall(t, "pl_broker", "rcaps")), &rcaps)
	if len(rcaps.Rcaps) != 1 || !rcaps.Rcaps[0].Pool || rcaps.Rcaps[0].Rcap == "" {
		t.Fatalf("broker's rcaps: %+v, want its pool", rcaps)
	}
	pool := string(rcaps.Rcaps[0].Rcap)
	var kid api.Rcap
	json.Unmarshal([]byte(b.mustCall(t, "pl_broker", "split", pool, `{"cpu_guarantee":150,"privileges":{"create_sliver":true}}`)), &kid)
	b.refused(t, "pl_broker", "cpu_guarantee: 51 requested, the parent holds 50", "split", pool, `{"cpu_guarantee":51}`)
	b.mustCall(t, "pl_broker", "bind", "pl_customer", string(kid))
	b.mustCall(t, "pl_broker", "bind", "pl_customer2", pool)
	var third api.Rcap
	json.Unmarshal([]byte(b.mustCall(t, "pl_broker", "split", pool, `{"privileges":{"create_sliver":true}}`)), &third)
	b.refused(t, "pl_broker", "allows 2 and 2 are bound", "bind", "pl_customer3", string(third))
	// A name central did not give it, with its own key: refused, no sliver.
	b.refused(t, "pl_broker", "not slice:pl_broker's to bind", "bind", "pl_victim", string(third))
	// Its own share of the node (policy): 50 thousandths, no more, and
	// never without an end.
	b.refused(t, "pl_broker", "must end", "acquire", `{"cpu_guarantee":50,"privileges":{"create_sliver":true}}`)
	b.mustCall(t, "pl_broker", "acquire", `{"cpu_guarantee":50,"privileges":{"create_sliver":true},`+end+`}`)
	b.refused(t, "pl_broker", "local policy", "acquire", `{"cpu_guarantee":1,`+end+`}`)
	b.refused(t, "pl_other", "local policy", "acquire", `{"cpu_guarantee":1,`+end+`}`)
	// A key its policy line leaves out is zero: no memory or disk to hoard.
	b.refused(t, "pl_other", "slice:pl_other may hold 0 on this node (local policy)", "acquire", `{"memory_guarantee":1048576,`+end+`}`)
	b.refused(t, "pl_other", "slice:pl_other may hold 0 on this node (local policy)", "acquire", `{"disk_guarantee":1048576,`+end+`}`)
	waitUntil(t, "customer running", func() bool {
		l, _ := b.client.List(ctx)
		for _, s := range l.Slivers {
			if s.Name == "pl_customer" && s.Procs > 0 {
				return true
			}
		}
		return false
	})

	// Pass: the broker hands an rcap to pl_other; it works there only.
	var spare api.Rcap
	json.Unmarshal([]byte(b.mustCall(t, "pl_broker", "acquire", `{"privileges":{"create_sliver":true},`+end+`}`)), &spare)
	b.mustCall(t, "pl_broker", "pass", string(spare), "pl_other")
	b.refused(t, "pl_broker", "not yours", "query", string(spare))
	b.mustCall(t, "pl_other", "query", string(spare))

	b.mustCall(t, "pl_other", "bind", "pl_customer_other", string(spare))
	b.refused(t, "pl_broker", "not yours", "bind", "pl_customer_other", string(third))

	// max_slivers 6: pl_broker, pl_other, pl_plain and three customers.
	var more api.Rcap
	json.Unmarshal([]byte(b.mustCall(t, "pl_other", "acquire", `{"privileges":{"create_sliver":true},`+end+`}`)), &more)
	b.refused(t, "pl_other", "at most 6 (local policy)", "bind", "pl_seventh", string(more))

	// Central takes pl_broker's privilege away: the customer it bound on
	// an rcap it acquired (and passed) goes with it, as do its pool's.
	b.bindAs(t, "pl_broker", api.Rspec{})
	waitUntil(t, "the broker's customers gone", func() bool {
		l, _ := b.client.List(ctx)
		for _, s := range l.Slivers {
			if strings.HasPrefix(s.Name, "pl_customer") {
				return false
			}
		}
		return true
	})

	// Granting the privilege restarts the running sliver with the share.
	b.bindAs(t, "pl_plain", api.Rspec{Privileges: nm})
	if out := b.mustCall(t, "pl_plain", "rcaps"); !strings.Contains(out, `"rcaps":[]`) {
		t.Fatalf("newly privileged slice's rcaps: %s", out)
	}
}

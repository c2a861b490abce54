package testbed_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/broker/lease"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// leaseSlot is the broker's slot length in this test (an hour for real).
const leaseSlot = 4 * time.Second

// TestLeaseBroker runs the lease broker the way its operator would: a
// slice that central makes a node manager controller with a delegation
// (one sliver, ten CPU shares) and the port tcp/61080 (tag ports, which
// no other slice may then bind), orbis-lease copied into its sliver over
// SSH and started there. The operator grants a buyer with no account at
// central 30 share-slots of credit, from inside the broker's sliver; the
// buyer, refused without the credential, reserves a window of two slots
// of ten shares with `orbis lease reserve`; the sliver appears when the
// window opens (ssh works) and is gone when it ends, while a slice made
// by central runs on the same node all along. Reservations beyond the
// delegation, or beyond the credit, are refused by the broker, and
// splits beyond the delegation by the node manager.
func TestLeaseBroker(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildLeaseBroker(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	p := newPLC(t, st)
	opKey := newUser(t, p, "broker@orbis.test")

	central := testbed.Site + "_steady"
	newSlice(p, central, "broker@orbis.test")
	p.call("AddSliceToNodes", central, hostnames(st))
	broker := testbed.Site + "_lease"
	newSlice(p, broker, "broker@orbis.test")
	leased := testbed.Site + "_leased"
	for _, tag := range [][2]string{{"nm_controller", "1"}, {"delegate_slivers", "1"}, {"delegate_cpu_shares", "10"},
		{"ports", "tcp/" + lease.DefaultListen[1:]}, {"bind_slices", leased + "," + testbed.Site + "_extra"}} {
		p.call("AddSliceTag", broker, tag[0], tag[1])
	}
	p.call("AddSliceToNodes", broker, hostnames(st))
	waitRunning(t, p, central, 1)
	waitRunning(t, p, broker, 1)
	steadyPID := strings.TrimSpace(ssh(t, opKey, central, n, "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"))
	// The broker's port is its slice's before the broker runs: the port
	// manager refuses it to central's slice (EPERM, not "in use").
	if out := ssh(t, opKey, central, n, "timeout 2 nc -l -p "+lease.DefaultListen[1:]+" </dev/null 2>&1; echo rc=$?"); !strings.Contains(out, "not permitted") {
		t.Errorf("central's slice %s binding the broker slice's reserved port: want EPERM:\n%s", central, out)
	}

	url := startBroker(t, opKey, broker, n, bin)
	userKey := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", userKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	reserve := []string{"lease", "reserve", "--broker", url, "--slice", leased, "--key", userKey + ".pub", "--start", "next", "--slots", "2", "--cpu-shares", "10"}
	if out, err := orbisErr(reserve...); err == nil || !strings.Contains(out, "no credential") {
		t.Errorf("reserve without a credential: %v\n%s", err, out)
	}
	if _, err := lease.NewClient(url).Reserve(context.Background(), lease.ReserveRequest{Slice: leased}); !isStatus(err, 401) {
		t.Errorf("the broker's API, asked to reserve without a credential: %v, want 401", err)
	}
	credFile := grantCredit(t, opKey, broker, n, url)
	out := orbis(t, append(reserve, "--credential-file", credFile)...)
	t.Logf("orbis lease reserve:\n%s", out)
	token := regexp.MustCompile(`token ([0-9a-f]{32})`).FindStringSubmatch(out)
	if token == nil || !strings.Contains(out, "20 share-slots charged, 10 left") {
		t.Fatalf("no token, or not 20 share-slots charged, in reserve's output:\n%s", out)
	}
	l := onlyLease(t, url)

	cred, _ := os.ReadFile(credFile)
	t.Setenv("ORBIS_LEASE_CREDENTIAL", strings.TrimSpace(string(cred)))
	checkBeyondDelegation(t, url, userKey+".pub", opKey, broker, n)
	// Within the delegation, after the leased window, but beyond the
	// credit left: refused, and the operator's table says why.
	out, err := orbisErr("lease", "reserve", "--broker", url, "--slice", testbed.Site+"_later", "--key", userKey+".pub",
		"--start", strconv.FormatInt(l.End, 10), "--slots", "2", "--cpu-shares", "10")
	if err == nil || !strings.Contains(out, "costs 20 share-slots") || !strings.Contains(out, "10 left of 30") {
		t.Errorf("a lease beyond the credit: %v\n%s", err, out)
	}
	if out := ssh(t, opKey, broker, n, "/root/orbis-lease accounts"); !regexp.MustCompile(`(?m)^buyer +30 +20 +10 +1 `).MatchString(out) {
		t.Errorf("orbis-lease accounts in the broker's sliver:\n%s", out)
	}
	// The broker's slice cannot bind its pool to a slice central made:
	// that would hand central's sliver to the broker's user.
	if out, err := sshOut(opKey, broker, n, "/root/orbis-lease split --cpu-shares 1 --slice "+central+" --key /root/key.pub"); err == nil || !strings.Contains(out, "not yours") {
		t.Errorf("the broker's slice binding its pool to central's slice %s: %v\n%s", central, err, out)
	}

	// Before the window: no sliver.
	if time.Now().Unix() < l.Start-1 && sshWorks(userKey, leased, n) {
		t.Errorf("ssh %s@%s works before its window opens", leased, n.Hostname)
	}
	waitFor(t, "the leased sliver to appear", time.Until(time.Unix(l.Start, 0))+20*time.Second, func() bool { return sshWorks(userKey, leased, n) })
	opened := time.Now()
	if opened.Unix() < l.Start {
		t.Errorf("the sliver appeared at %v, before its window opened at %v", opened, time.Unix(l.Start, 0))
	}
	t.Logf("the leased sliver appeared %v after its window opened", opened.Sub(time.Unix(l.Start, 0)))
	if h := strings.TrimSpace(ssh(t, userKey, leased, n, "hostname")); h != leased {
		t.Errorf("hostname in the leased sliver: %q", h)
	}
	checkLeasedRcap(t, n, leased, l)
	// While it is active, the node manager refuses a second sliver from
	// the pool, asked for around the broker's book.
	if out, err := sshOut(opKey, broker, n, "/root/orbis-lease split --cpu-shares 1 --slice "+testbed.Site+"_extra --key /root/key.pub"); err == nil || !strings.Contains(out, "allows 1 and 1 are bound") {
		t.Errorf("a second sliver from a delegation of one, asked of the node manager: %v\n%s", err, out)
	}

	waitFor(t, "the leased sliver to vanish", time.Until(time.Unix(l.End, 0))+20*time.Second, func() bool { return !sshWorks(userKey, leased, n) })
	if gone := time.Now(); gone.Unix() < l.End-1 {
		t.Errorf("the sliver vanished at %v, before its window ended at %v", gone, time.Unix(l.End, 0))
	}
	waitFor(t, "the lease to be done", 10*time.Second, func() bool { return onlyLease(t, url).State == lease.StateDone })

	// Central's slice ran all along, its process untouched.
	if got := strings.TrimSpace(ssh(t, opKey, central, n, "pidof sleep")); got != steadyPID {
		t.Errorf("the central slice's process: pidof sleep = %q, want %q", got, steadyPID)
	}
}

// grantCredit grants a buyer 30 share-slots as the broker's operator
// does, from inside the broker's sliver (the secret is in the book's
// directory there), and returns a file (mode 0600) holding the
// credential. Outside the sliver, without the secret, a grant is refused.
func grantCredit(t *testing.T, opKey, broker string, n testbed.Node, url string) string {
	t.Helper()
	if _, err := lease.NewClient(url).Grant(context.Background(), lease.GrantRequest{Account: "eve", Credit: 1000}); !isStatus(err, 401) {
		t.Errorf("a grant without the operator's secret: %v, want 401", err)
	}
	out := ssh(t, opKey, broker, n, "/root/orbis-lease grant buyer --credit 30")
	m := regexp.MustCompile(`credential (buyer:[0-9a-f]{32})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("orbis-lease grant in the broker's sliver:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(path, []byte(m[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func isStatus(err error, status int) bool {
	var ce *lease.CallError
	return errors.As(err, &ce) && ce.Status == status
}

// buildLeaseBroker builds the static orbis-lease, as `make build` does.
func buildLeaseBroker(t *testing.T) string {
	return buildStatic(t, "github.com/orbisproject/orbis/internal/broker/cmd/orbis-lease", "orbis-lease")
}

// startBroker copies the broker into the slice's sliver over SSH, starts
// it there, and waits until it sees its delegation.
func startBroker(t *testing.T, key, slice string, n testbed.Node, bin string) string {
	t.Helper()
	copyInto(t, key, slice, n, bin, "orbis-lease")
	ssh(t, key, slice, n, "mkdir -p /var/lib/orbis-lease; "+
		"setsid /root/orbis-lease serve --slot "+leaseSlot.String()+" --dir /var/lib/orbis-lease </dev/null >/var/log/orbis-lease.log 2>&1 &")
	// The broker serves HTTPS with a CA of its own: buyers pin its hash
	// in the URL.
	var hash string
	waitFor(t, "the broker's CA", 20*time.Second, func() bool {
		pem, err := sshOut(key, slice, n, "cat /var/lib/orbis-lease/tls/ca.crt")
		certs, perr := api.ParseCA([]byte(pem))
		if err != nil || perr != nil {
			return false
		}
		hash = api.CAHash(certs[0])
		return true
	})
	url := "https://" + n.Addr + lease.DefaultListen + "#" + hash
	if _, err := lease.NewClient("https://" + n.Addr + lease.DefaultListen + "#sha256:" + strings.Repeat("00", 32)).Info(context.Background()); err == nil {
		t.Error("a buyer pinning another CA reached the broker")
	}
	c := lease.NewClient(url)
	var info lease.Info
	waitFor(t, "the broker to see its delegation", 20*time.Second, func() bool {
		var err error
		info, err = c.Info(context.Background())
		return err == nil && info.Problem == ""
	})
	if info.Capacity.Slivers != 1 || info.Capacity.CPUShares != 10 || info.SlotSeconds != int64(leaseSlot/time.Second) {
		t.Fatalf("broker info: %+v", info)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, err := sshOut(key, slice, n, "cat /var/log/orbis-lease.log")
			t.Logf("the broker's log (%v):\n%s", err, log)
		}
	})
	return url
}

// checkBeyondDelegation: the broker refuses a lease over its delegation
// (a second sliver in the slot, more shares than delegated), and the node
// manager refuses the broker's slice a split beyond it.
func checkBeyondDelegation(t *testing.T, url, pub, opKey, broker string, n testbed.Node) {
	t.Helper()
	out, err := orbisErr("lease", "reserve", "--broker", url, "--slice", testbed.Site+"_second", "--key", pub, "--start", "next", "--slots", "1")
	if err == nil || !strings.Contains(out, "1 of 1 slivers leased") {
		t.Errorf("a second sliver in a delegation of one: %v\n%s", err, out)
	}
	out, err = orbisErr("lease", "reserve", "--broker", url, "--slice", testbed.Site+"_big", "--key", pub, "--start", "+30s", "--cpu-shares", "11")
	if err == nil || !strings.Contains(out, "cpu_shares: 11 asked, the delegation holds 10") {
		t.Errorf("eleven shares of a delegation of ten: %v\n%s", err, out)
	}
	out, err = sshOut(opKey, broker, n, "/root/orbis-lease split --cpu-shares 11")
	if err == nil || !strings.Contains(out, "cpu_shares: 11 exceeds the parent's 10") {
		t.Errorf("a split of eleven shares from a pool of ten, asked of the node manager: %v\n%s", err, out)
	}
}

// checkLeasedRcap checks, as the node's operator sees it, that the leased
// sliver is bound to a split of the broker's pool with the lease's window
// and shares.
func checkLeasedRcap(t *testing.T, n testbed.Node, slice string, l lease.Lease) {
	t.Helper()
	list, err := api.NewNMClient(n.NMSocket).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pools := map[string]bool{}
	for _, r := range list.Rcaps {
		pools[r.ID] = r.Pool
	}
	for _, r := range list.Rcaps {
		if r.Bound != slice {
			continue
		}
		if !pools[r.Parent] || r.Rspec.End != l.End || r.Rspec.CPUShares != 10 {
			t.Errorf("the leased sliver's rcap: %+v; want a child of the pool ending at %d with 10 shares", r, l.End)
		}
		return
	}
	t.Errorf("no rcap bound to %s in the node manager's list: %+v", slice, list.Rcaps)
}

func onlyLease(t *testing.T, url string) lease.Lease {
	t.Helper()
	ls, err := lease.NewClient(url).Leases(context.Background())
	if err != nil || len(ls) == 0 {
		t.Fatalf("leases: %v, %v", ls, err)
	}
	for _, l := range ls {
		if l.Slice == testbed.Site+"_leased" {
			return l
		}
	}
	t.Fatalf("no lease of %s_leased: %+v", testbed.Site, ls)
	return lease.Lease{}
}

func sshWorks(key, slice string, n testbed.Node) bool {
	_, err := sshOut(key, slice, n, "true")
	return err == nil
}

func sshOut(key, slice string, n testbed.Node, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := sshCmd(ctx, key, slice, n, cmd).CombinedOutput()
	return string(out), err
}

// orbis runs the orbis command line and fails the test if it fails.
func orbis(t *testing.T, args ...string) string {
	t.Helper()
	out, err := orbisErr(args...)
	if err != nil {
		t.Fatalf("orbis %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func orbisErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, orbisBin, args...).CombinedOutput()
	var x *exec.ExitError
	if err != nil && !errors.As(err, &x) {
		return string(out), err
	}
	return string(out), err
}

package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeCentral offers one build on the node channel's upgrade calls.
type fakeCentral struct {
	mu    sync.Mutex
	offer api.Upgrade
	bin   []byte
}

func (f *fakeCentral) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case api.NodeUpgradePath:
		json.NewEncoder(w).Encode(f.offer)
	case api.NodeUpgradePath + "/binary":
		w.Write(f.bin)
	default:
		http.NotFound(w, r)
	}
}

// signed returns an offer of bin signed by key.
func signed(t *testing.T, key ed25519.PrivateKey, version string, bin []byte) api.Upgrade {
	t.Helper()
	sum := sha256.Sum256(bin)
	u := api.Upgrade{Version: version, Arch: runtime.GOARCH, Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:]),
		PublicKey: key.Public().(ed25519.PublicKey)}
	u.Signature = ed25519.Sign(key, api.UpgradeMessage(u))
	return u
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upgradeRig is an agent's upgrader over a fake central, with an "old"
// agent executable (a copy of /bin/true) in a directory of its own.
type upgradeRig struct {
	t       *testing.T
	u       *upgrader
	central *fakeCentral
	client  *api.NodeClient
	old     []byte
	execs   []string // what the upgrader re-executed
}

func newUpgradeRig(t *testing.T) *upgradeRig {
	dir := t.TempDir()
	r := &upgradeRig{t: t, central: &fakeCentral{}, old: readFile(t, "/bin/true")}
	exe := filepath.Join(dir, "orbis")
	if err := os.WriteFile(exe, r.old, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.central)
	t.Cleanup(srv.Close)
	r.client = api.NewNodeClient(srv.URL, 1, "secret", nil)
	sum := sha256.Sum256(r.old)
	r.u = &upgrader{log: testutil.Logger(t), exe: exe, self: hex.EncodeToString(sum[:]), dir: filepath.Join(dir, "upgrade"),
		nmSocket: filepath.Join(dir, "nm.sock"), check: time.Hour, health: 2 * time.Second, args: []string{"orbis"},
		exec: func(path string, args, env []string) error {
			r.execs = append(r.execs, path)
			return nil
		}, stop: func() {}}
	if err := os.MkdirAll(r.u.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *upgradeRig) offer(u api.Upgrade, bin []byte) {
	r.central.mu.Lock()
	r.central.offer, r.central.bin = u, bin
	r.central.mu.Unlock()
}

// assertOld fails unless the agent's executable is still the old one,
// with nothing pending and nothing left beside it.
func (r *upgradeRig) assertOld() {
	r.t.Helper()
	if !bytes.Equal(readFile(r.t, r.u.exe), r.old) {
		r.t.Fatal("the agent's executable was replaced")
	}
	if r.u.installed() {
		r.t.Fatal("an upgrade is pending")
	}
	ents, err := os.ReadDir(filepath.Dir(r.u.exe))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			r.t.Fatalf("a partial build %s was left beside the agent", e.Name())
		}
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestUpgradeRefusesTamperedBinary: central's signature covers the
// SHA-256; a binary that is not the signed one (tampered in transit or at
// central's disk) is refused and the old agent stays.
func TestUpgradeRefusesTamperedBinary(t *testing.T) {
	r := newUpgradeRig(t)
	key := newKey(t)
	good := readFile(t, "/bin/sh")
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	r.offer(signed(t, key, "2", good), bad)
	err := r.u.checkOnce(context.Background(), r.client)
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("checkOnce: %v, want a SHA-256 mismatch", err)
	}
	r.assertOld()
	// A tampered description (another version under the same signature)
	// is refused before anything is fetched.
	u := signed(t, key, "2", good)
	u.Version = "3"
	r.offer(u, good)
	if err := r.u.checkOnce(context.Background(), r.client); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("checkOnce: %v, want a signature refusal", err)
	}
	r.assertOld()
}

// TestUpgradeRefusesWrongKey: the node keeps the first key central gave
// it; a build signed by another key (a central impostor, or a stolen
// node secret replaying another key) is refused, even if it sends its
// own key along.
func TestUpgradeRefusesWrongKey(t *testing.T) {
	r := newUpgradeRig(t)
	central, other := newKey(t), newKey(t)
	if _, err := r.u.centralKey(central.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	bin := readFile(t, "/bin/sh")
	r.offer(signed(t, other, "2", bin), bin)
	if err := r.u.checkOnce(context.Background(), r.client); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("checkOnce: %v, want a signature refusal", err)
	}
	r.assertOld()
	// Central's own key is taken.
	r.offer(signed(t, central, "2", bin), bin)
	if err := r.u.checkOnce(context.Background(), r.client); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, r.u.exe), bin) || !bytes.Equal(readFile(t, r.u.exe+".prev"), r.old) || !r.u.installed() {
		t.Fatal("a build signed by central's key was not installed, the old one kept beside it")
	}
}

// TestUpgradeRefusesNonELF: a signed build that is not an executable for
// this machine is not installed.
func TestUpgradeRefusesNonELF(t *testing.T) {
	r := newUpgradeRig(t)
	bin := []byte("#!/bin/sh\nexit 0\n")
	r.offer(signed(t, newKey(t), "2", bin), bin)
	if err := r.u.checkOnce(context.Background(), r.client); err == nil || !strings.Contains(err.Error(), "ELF") {
		t.Fatalf("checkOnce: %v, want an ELF refusal", err)
	}
	r.assertOld()
}

// serveFakeNM answers every node manager call on the rig's socket.
func (r *upgradeRig) serveFakeNM() {
	l, err := net.Listen("unix", r.u.nmSocket)
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{}")) })}
	go srv.Serve(l)
	r.t.Cleanup(func() { srv.Close() })
}

// TestUpgradeTrial runs the supervisor over new "agents" (/bin/sh with a
// script as arguments): one that exits at once and one that never becomes
// healthy are rolled back (the old executable put back, the build refused
// for good, the old agent re-executed); a healthy one stays.
func TestUpgradeTrial(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		healthy      bool
	}{
		{"exits at once", "exit 1", false},
		{"never healthy", "exec sleep 3600", false},
		{"healthy", `echo ok > "$ORBIS_UPGRADE_HEALTH"; exec sleep 3600`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newUpgradeRig(t)
			r.serveFakeNM()
			bin := readFile(t, "/bin/sh")
			r.offer(signed(t, newKey(t), "2", bin), bin)
			if err := r.u.checkOnce(context.Background(), r.client); err != nil || !r.u.installed() {
				t.Fatalf("checkOnce: %v, installed %v", err, r.u.installed())
			}
			r.u.args = []string{"sh", "-c", tc.script}
			start := time.Now()
			if err := r.u.supervise(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Logf("trial took %v", time.Since(start))
			if len(r.execs) != 1 || r.execs[0] != r.u.exe {
				t.Fatalf("re-executed %v, want %s once", r.execs, r.u.exe)
			}
			sum := sha256.Sum256(bin)
			if tc.healthy {
				if !bytes.Equal(readFile(t, r.u.exe), bin) || r.u.refused(hex.EncodeToString(sum[:])) {
					t.Fatal("a healthy upgrade was rolled back")
				}
				return
			}
			if !bytes.Equal(readFile(t, r.u.exe), r.old) {
				t.Fatal("a failed upgrade was not rolled back")
			}
			if !r.u.refused(hex.EncodeToString(sum[:])) {
				t.Fatal("a failed build is not refused: the node would try it again")
			}
			// The old agent, re-executed, does not install it again.
			r2 := newUpgradeRig(t)
			r2.u.dir, r2.u.exe = r.u.dir, r.u.exe
			r2.offer(signed(t, newKey(t), "2", bin), bin)
			if err := r2.u.checkOnce(context.Background(), r2.client); err != nil || r2.u.installed() {
				t.Fatalf("a refused build was installed again (err %v)", err)
			}
		})
	}
}

// TestUpgradeCrashLoopEndsOnOld: a new agent that passed its trial but
// then keeps restarting (a crash loop under a service manager) is rolled
// back on its fourth start: the previous executable is put back, the
// build refused, the old agent re-executed.
func TestUpgradeCrashLoopEndsOnOld(t *testing.T) {
	r := newUpgradeRig(t)
	r.serveFakeNM()
	bin := readFile(t, "/bin/sh")
	r.offer(signed(t, newKey(t), "2", bin), bin)
	if err := r.u.checkOnce(context.Background(), r.client); err != nil {
		t.Fatal(err)
	}
	r.u.args = []string{"sh", "-c", `echo ok > "$ORBIS_UPGRADE_HEALTH"; exec sleep 3600`}
	if err := r.u.supervise(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	sha := hex.EncodeToString(sum[:])
	r.execs = nil
	r.u.self = sha // each start is now the new agent's
	for start := 1; start <= maxProbationStarts; start++ {
		if err := r.u.checkProbation(); err != nil || len(r.execs) != 0 {
			t.Fatalf("start %d on probation: %v, re-executed %v", start, err, r.execs)
		}
	}
	if err := r.u.checkProbation(); err != nil {
		t.Fatal(err)
	}
	if len(r.execs) != 1 || !bytes.Equal(readFile(t, r.u.exe), r.old) || !r.u.refused(sha) {
		t.Fatalf("after %d starts: re-executed %v, old executable back %v, build refused %v",
			maxProbationStarts+1, r.execs, bytes.Equal(readFile(t, r.u.exe), r.old), r.u.refused(sha))
	}
	// An agent that proved itself (ran u.health, reached central) ends
	// its probation: later restarts are not counted.
	r2 := newUpgradeRig(t)
	r2.u.health = 0
	if err := r2.u.startProbation(r2.u.self); err != nil {
		t.Fatal(err)
	}
	r2.u.endProbation(time.Now())
	if _, err := os.Stat(r2.u.probationFile()); err == nil {
		t.Fatal("probation not ended")
	}
}

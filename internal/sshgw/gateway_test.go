//go:build linux

package sshgw

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/testutil"
)

// newKey returns a fresh ed25519 client key.
func newKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedLine(s ssh.Signer) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) + " test@orbis"
}

// gateway is a Server serving on a random loopback port for one test.
type gateway struct {
	srv  *Server
	addr string
	cfg  Config
}

// startGateway serves cfg (its Slivers set) on 127.0.0.1:0 until the test
// ends.
func startGateway(t testing.TB, cfg Config) *gateway {
	t.Helper()
	if cfg.HostKeyPath == "" {
		cfg.HostKeyPath = filepath.Join(t.TempDir(), "host_key")
	}
	cfg.Log = testutil.Logger(t)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &gateway{srv: srv, addr: ln.Addr().String(), cfg: cfg}
}

func (g *gateway) dial(t testing.TB, user string, keys ...ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", g.addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(keys...)},
		HostKeyCallback: ssh.FixedHostKey(g.srv.hostKey.PublicKey()),
		Timeout:         10 * time.Second,
	})
}

func (g *gateway) mustDial(t testing.TB, user string, keys ...ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := g.dial(t, user, keys...)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakeGateway serves a fake node whose one slice, pl_fake, accepts key.
func fakeGateway(t *testing.T, cfg Config, key ssh.Signer) *gateway {
	cfg.Slivers = &fakeSlivers{keys: map[string][]string{"pl_fake": {authorizedLine(key)}}}
	return startGateway(t, cfg)
}

func TestHostKeyKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh", "host_key")
	a, err := New(Config{HostKeyPath: path, Slivers: &fakeSlivers{}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{HostKeyPath: path, Slivers: &fakeSlivers{}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.hostKey.PublicKey().Marshal(), b.hostKey.PublicKey().Marshal()) {
		t.Error("host key changed across restarts")
	}
	if a.hostKey.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s", a.hostKey.PublicKey().Type())
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("host key file: %v, mode %v", err, st.Mode())
	}
}

func TestExecAndStatus(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	key := newKey(t)
	g := fakeGateway(t, Config{}, key)
	c := g.mustDial(t, "pl_fake", key)
	s, _ := c.NewSession()
	s.Stdin = strings.NewReader("hello\n")
	out, err := s.CombinedOutput("tr a-z A-Z; exit 7")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 || string(out) != "HELLO\n" {
		t.Errorf("exec: out %q, err %v; want HELLO and status 7", out, err)
	}
}

func TestRefusalsLookAlike(t *testing.T) {
	key, other := newKey(t), newKey(t)
	g := fakeGateway(t, Config{RefusalDelay: 50 * time.Millisecond}, key)
	for _, tc := range []struct {
		name, user string
		key        ssh.Signer
	}{
		{"wrong key", "pl_fake", other},
		{"unknown slice", "pl_nosuch", key},
		{"bad name", "../../etc", key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var banner string
			start := time.Now()
			_, err := ssh.Dial("tcp", g.addr, &ssh.ClientConfig{
				User:            tc.user,
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(tc.key)},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(),
				BannerCallback:  func(m string) error { banner = m; return nil },
			})
			if err == nil {
				t.Fatal("login accepted")
			}
			if banner != Refusal {
				t.Errorf("banner %q, want %q", banner, Refusal)
			}
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Errorf("refused in %v, before the refusal delay", d)
			}
		})
	}
}

// probeSigner is a key whose holder refuses to sign: it records whether
// the server asked for a signature, i.e. answered the key query with PK_OK.
type probeSigner struct {
	ssh.Signer
	asked *bool
}

func (p probeSigner) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	*p.asked = true
	return nil, errors.New("no signature from a prober")
}

// TestKeyProbe checks that a client holding only public keys learns
// nothing: the server asks for a signature for every key, whether the
// slice exists and takes the key or not.
func TestKeyProbe(t *testing.T) {
	key, other := newKey(t), newKey(t)
	g := fakeGateway(t, Config{}, key)
	for _, tc := range []struct {
		user string
		key  ssh.Signer
	}{{"pl_fake", key}, {"pl_fake", other}, {"pl_nosuch", key}} {
		asked := false
		if _, err := g.dial(t, tc.user, probeSigner{tc.key, &asked}); err == nil {
			t.Errorf("%s: login without a signature", tc.user)
		}
		if !asked {
			t.Errorf("%s, key %s: the server answered the probe without asking for a signature", tc.user, ssh.FingerprintSHA256(tc.key.PublicKey()))
		}
	}
}

func TestMaxAuthTries(t *testing.T) {
	key := newKey(t)
	wrong := []ssh.Signer{newKey(t), newKey(t), newKey(t)}
	g := fakeGateway(t, Config{Limits: Limits{MaxAuthTries: 2}, RefusalDelay: time.Millisecond}, key)
	if _, err := g.dial(t, "pl_fake", append(wrong, key)...); err == nil {
		t.Error("login accepted after 3 failures with MaxAuthTries 2")
	}
	g = fakeGateway(t, Config{Limits: Limits{MaxAuthTries: 6}, RefusalDelay: time.Millisecond}, key)
	g.mustDial(t, "pl_fake", append(wrong, key)...).Close()
}

func TestMaxSessions(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{Limits: Limits{MaxSessions: 2}}, key)
	c := g.mustDial(t, "pl_fake", key)
	var open []*ssh.Session
	for range 2 {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	if _, err := c.NewSession(); err == nil || !strings.Contains(err.Error(), "at most 2 sessions") {
		t.Errorf("third session: %v", err)
	}
	open[0].Close()
	waitUntil(t, "a session slot", func() bool {
		s, err := c.NewSession()
		if err == nil {
			s.Close()
		}
		return err == nil
	})
}

func TestMaxConns(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{Limits: Limits{MaxConns: 2}}, key)
	a := g.mustDial(t, "pl_fake", key)
	g.mustDial(t, "pl_fake", key)
	if _, err := g.dial(t, "pl_fake", key); err == nil {
		t.Error("third connection accepted with MaxConns 2")
	}
	a.Close()
	waitUntil(t, "a connection slot", func() bool {
		c, err := g.dial(t, "pl_fake", key)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// TestMaxConnsFair fills the gateway with one slice's connections: a
// login of another slice still gets in, and the first slice's oldest
// connection makes room for it; once the two are even, the first slice is
// refused.
func TestMaxConnsFair(t *testing.T) {
	a, b := newKey(t), newKey(t)
	g := startGateway(t, Config{Limits: Limits{MaxConns: 3}, Slivers: &fakeSlivers{keys: map[string][]string{
		"pl_a": {authorizedLine(a)}, "pl_b": {authorizedLine(b)}}}})
	oldest := g.mustDial(t, "pl_a", a)
	g.mustDial(t, "pl_a", a)
	g.mustDial(t, "pl_a", a)
	g.mustDial(t, "pl_b", b)
	if err := oldest.Wait(); err == nil {
		t.Error("the oldest connection of the heaviest slice ended cleanly, want closed")
	}
	if c, err := g.dial(t, "pl_a", a); err == nil {
		c.Close()
		t.Errorf("pl_a got a third slot of 3 while pl_b holds one")
	}
}

// held returns how many authenticated connections slice holds.
func (a *admission) held(slice string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.bySlice[slice])
}

func TestHandshakeLimits(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{Limits: Limits{MaxHandshakes: 1, HandshakeTimeout: 300 * time.Millisecond}}, key)
	silent, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	io.ReadFull(silent, make([]byte, 4)) // the server's version line has begun
	if _, err := g.dial(t, "pl_fake", key); err == nil {
		t.Error("second handshake accepted with MaxHandshakes 1")
	}
	// The silent client is dropped after the handshake timeout.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Errorf("silent client not dropped: %v", err)
	}
	waitUntil(t, "a handshake slot", func() bool {
		c, err := g.dial(t, "pl_fake", key)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func TestIdleTimeout(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{Limits: Limits{IdleTimeout: 200 * time.Millisecond}}, key)
	c := g.mustDial(t, "pl_fake", key)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
}

func TestNoForwarding(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{}, key)
	c := g.mustDial(t, "pl_fake", key)
	if conn, err := c.Dial("tcp", g.addr); err == nil {
		conn.Close()
		t.Error("direct-tcpip accepted")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("tcpip-forward accepted")
	}
}

func TestSignals(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{}, key)
	c := g.mustDial(t, "pl_fake", key)
	for sig, want := range map[ssh.Signal]int{ssh.SIGKILL: 137, ssh.SIGINT: 130, ssh.SIGTERM: 143} {
		s, _ := c.NewSession()
		var out testutil.Buffer
		s.Stdout = &out
		if err := s.Start("echo started; sleep 100; echo survived"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the command", func() bool { return strings.Contains(out.String(), "started") })
		s.Signal(sig)
		err := s.Wait()
		var ee *ssh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != want {
			t.Errorf("after %s: %v, want status %d", sig, err, want)
		}
		if strings.Contains(out.String(), "survived") {
			t.Errorf("after %s: the shell went on", sig)
		}
	}
}

// TestDisconnectKillsGroup checks that a vanished client takes its
// command's whole process group with it.
func TestDisconnectKillsGroup(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{}, key)
	c := g.mustDial(t, "pl_fake", key)
	s, _ := c.NewSession()
	r, _ := s.StdoutPipe()
	if err := s.Start("trap '' HUP; sleep 100 & echo $!; wait"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(r, &pid); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitUntil(t, "the group killed", func() bool { return !alive(pid) })
}

// TestChannelBuffering checks that a client cannot make the gateway buffer
// more than a window of data for a command that does not read it.
func TestChannelBuffering(t *testing.T) {
	key := newKey(t)
	g := fakeGateway(t, Config{}, key)
	c := g.mustDial(t, "pl_fake", key)
	s, _ := c.NewSession()
	w, _ := s.StdinPipe()
	if err := s.Start("sleep 100"); err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := w.Write(buf)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second)
	if n := sent.Load(); n > 4<<20 {
		t.Errorf("the client sent %d bytes to a command that reads none", n)
	}
	s.Signal(ssh.SIGKILL)
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

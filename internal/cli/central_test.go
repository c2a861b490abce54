package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/api"
)

// runCLI runs `orbis ARGS...` with stdin and returns what it printed.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// isolate points the credentials file into a temporary directory and
// clears the environment that overrides it.
func isolate(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "orbis", "credentials.json")
	t.Setenv("ORBIS_CONFIG", p)
	t.Setenv("ORBIS_CENTRAL", "")
	t.Setenv("ORBIS_TOKEN", "")
	return p
}

// fakeMethods is a scripted central: each method answers from a function
// of its arguments; a *fakeFault answers as an error.
type fakeMethods struct {
	mu sync.Mutex
	// mu guards the following.
	calls []string
	fns   map[string]func(args []any) any
}

type fakeFault struct {
	status, code int
	msg          string
}

func (f *fakeMethods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, api.CentralPath)
	var args []any
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		json.Unmarshal(body, &args)
	}
	f.mu.Lock()
	f.calls = append(f.calls, name)
	fn := f.fns[name]
	f.mu.Unlock()
	var res any = &fakeFault{404, 100, "unknown method " + name}
	if fn != nil {
		res = fn(args)
	}
	if ff, ok := res.(*fakeFault); ok {
		w.WriteHeader(ff.status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": ff.code, "message": ff.msg}})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"result": res})
}

func (f *fakeMethods) called(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

// serveFake starts fns as a central and points the CLI at it.
func serveFake(t *testing.T, fns map[string]func(args []any) any) *fakeMethods {
	t.Helper()
	isolate(t)
	f := &fakeMethods{fns: fns}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("ORBIS_CENTRAL", srv.URL)
	t.Setenv("ORBIS_TOKEN", "tok")
	return f
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		name    string
		enabled bool
	}{
		{[]string{"mit", "--name", "MIT"}, []string{"mit"}, "MIT", false},
		{[]string{"--name=MIT", "mit", "--enabled", "x"}, []string{"mit", "x"}, "MIT", true},
		{[]string{"a", "--", "--name", "b"}, []string{"a", "--name", "b"}, "", false},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "")
		enabled := fs.Bool("enabled", false, "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.pos) || *name != tt.name || *enabled != tt.enabled {
			t.Errorf("parseInterleaved(%q) = %q, name %q, enabled %v, %v", tt.args, pos, *name, *enabled, err)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-12-31", want: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{in: "2026-12-31T08:00:00Z", want: time.Date(2026, 12, 31, 8, 0, 0, 0, time.UTC)},
		{in: "2026-12-31 08:30", want: time.Date(2026, 12, 31, 8, 30, 0, 0, time.UTC)},
		{in: "+4w", want: now.Add(4 * 7 * 24 * time.Hour)},
		{in: "+10d", want: now.Add(10 * 24 * time.Hour)},
		{in: "+36h", want: now.Add(36 * time.Hour)},
		{in: "+90m", want: now.Add(90 * time.Minute)},
		{in: "2026-13-01", bad: true},
		{in: "tomorrow", bad: true},
		{in: "+0d", bad: true},
		{in: "+-3d", bad: true},
		{in: "+4x", bad: true},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now)
		if tt.bad {
			if err == nil || !strings.Contains(err.Error(), "bad") {
				t.Errorf("parseWhen(%q) = %d, %v; want an error", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want.Unix() {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, time.Unix(got, 0).UTC(), err, tt.want)
		}
	}
}

func TestFieldValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ff := addFieldFlags(fs, siteFields)
	if err := fs.Parse([]string{"--name", "MIT", "--max-slices", "10", "--enabled", "--latitude", "42.5", "--public=false"}); err != nil {
		t.Fatal(err)
	}
	got, err := ff.values()
	want := map[string]any{"name": "MIT", "max_slices": int64(10), "enabled": true, "latitude": 42.5, "is_public": false}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("values = %v, %v; want %v (unset flags left out)", got, err, want)
	}
	fs.Parse([]string{"--max-slices", "ten"})
	if _, err := ff.values(); err == nil || !strings.Contains(err.Error(), "--max-slices") {
		t.Errorf("--max-slices ten: %v, want an error naming the flag", err)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, []string{"ID", "NAME", "ENABLED"}, [][]string{{"1", "mit", "yes"}, {"12", "princeton", "no"}})
	want := "ID  NAME       ENABLED\n1   mit        yes\n12  princeton  no\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteRecord(t *testing.T) {
	lat := 42.36
	s := api.Site{SiteID: 1, Name: "MIT", LoginBase: "mit", Latitude: &lat, NodeIDs: []int64{3, 4}, DateCreated: 1700000000}
	var b bytes.Buffer
	if err := writeRecord(&b, &s, [][2]string{{"persons", "a@mit.edu"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"site_id:          1\n", "login_base:       mit\n", "latitude:         42.36\n", "longitude:        \n",
		"node_ids:         3, 4\n", "date_created:     " + formatTime(1700000000) + "\n", "persons:          a@mit.edu\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("record lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "site_id") > strings.Index(out, "login_base") {
		t.Errorf("fields out of the record's order:\n%s", out)
	}
}

func TestCredentialsFile(t *testing.T) {
	p := isolate(t)
	if c, err := loadCredentials(); err != nil || c != (credentials{}) {
		t.Fatalf("no file: %+v, %v", c, err)
	}
	want := credentials{Central: "http://c", Token: "t", User: "u@x"}
	if _, err := saveCredentials(want); err != nil {
		t.Fatal(err)
	}
	if c, err := loadCredentials(); err != nil || c != want {
		t.Errorf("load = %+v, %v; want %+v", c, err, want)
	}
	for path, mode := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, mode)
		}
	}
}

func TestNotLoggedIn(t *testing.T) {
	isolate(t)
	for _, verb := range []string{"site", "person", "key", "nodes", "slice"} {
		_, _, err := runCLI(t, "", verb, "list")
		if err == nil || !strings.Contains(err.Error(), "run `orbis login` first") {
			t.Errorf("orbis %s list without login: %v", verb, err)
		}
	}
}

func TestConnectionPrecedence(t *testing.T) {
	isolate(t)
	if _, err := saveCredentials(credentials{Central: "http://127.0.0.1:1", Token: "saved-tok"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flags        connFlags
		envC, envT   string
		central, tok string
	}{
		{connFlags{}, "", "", "http://127.0.0.1:1", "saved-tok"},
		{connFlags{}, "http://127.0.0.2:1", "", "http://127.0.0.2:1", ""}, // the saved token belongs to another central
		{connFlags{}, "http://127.0.0.1:1/", "env-tok", "http://127.0.0.1:1", "env-tok"},
		{connFlags{central: "http://127.0.0.3:1", token: "flag-tok"}, "http://127.0.0.2:1", "env-tok", "http://127.0.0.3:1", "flag-tok"},
	}
	for _, tt := range tests {
		t.Setenv("ORBIS_CENTRAL", tt.envC)
		t.Setenv("ORBIS_TOKEN", tt.envT)
		c, err := tt.flags.client()
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL() != tt.central || tt.flags.anonymous != (tt.tok == "") {
			t.Errorf("%+v env %q %q: central %s anonymous %v; want %s token %q", tt.flags, tt.envC, tt.envT, c.BaseURL(), tt.flags.anonymous, tt.central, tt.tok)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	serveFake(t, nil)
	tests := [][]string{
		{"site", "frobnicate"},
		{"site", "show"},
		{"site", "show", "a", "b"},
		{"site", "update", "mit"},
		{"site", "create", "mit"},
		{"slice", "renew", "mit_x"},
		{"slice", "renew", "mit_x", "--expires", "someday"},
		{"slice", "create", "mit_x", "--expires", "2026-02-30"},
		{"slice", "add-nodes", "mit_x", "--wait", "forever", "n1"},
		{"person", "add-role", "a@b", "overlord"},
		{"nodes", "create", "n1.example.org"},
		{"key", "delete", "abc"},
		{"site", "list", "--bogus"},
	}
	for _, args := range tests {
		_, _, err := runCLI(t, "", args...)
		if code, _ := ExitCode(err); code != 2 {
			t.Errorf("orbis %s: exit %d (%v), want a usage error", strings.Join(args, " "), code, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, _, err := runCLI(t, "", "site", "list", "--central", srv.URL)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach central at "+srv.URL+": ") {
		t.Errorf("err = %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sk)))
	good := "# my keys\n\n" + line + " me@laptop\n" + `command="ls" ` + line + "\n"
	keys, err := parseKeys("f", []byte(good))
	if err != nil || len(keys) != 2 || keys[0] != line+" me@laptop" || keys[1] != line {
		t.Errorf("parseKeys = %q, %v", keys, err)
	}
	tests := map[string]string{
		"ssh-ed25519 AAAAnotbase64!!\n":                     "f line 1: not an SSH public key",
		"# only a comment\n":                                "no SSH public key",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n":         "is a private key",
		line + "\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n": "f line 2: not an SSH public key",
	}
	for in, want := range tests {
		if _, err := parseKeys("f", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseKeys(%q) = %v, want %q", in, err, want)
		}
	}
}

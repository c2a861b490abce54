// Package pgtest runs a throwaway PostgreSQL server for tests: initdb into
// a temporary directory, pg_ctl start on a Unix socket in that directory
// and a free localhost port, one fresh database per test, and stop and
// removal at the end. As root it runs the server as the postgres user
// (PostgreSQL refuses to run as root). With ORBIS_TEST_POSTGRES set to a
// postgres:// URL, tests use that server instead.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("postgresql server binaries (initdb, pg_ctl) not found: apt-get install postgresql")

// dirPrefix names every server directory, so a later run can sweep the
// ones whose test process died.
const dirPrefix = "orbistest-pg-"

// Server is a running throwaway PostgreSQL server.
type Server struct {
	dir  string // data directory; also holds the Unix socket
	bin  string // directory of initdb, pg_ctl
	port int
	cred *syscall.Credential // the postgres user, when run as root
}

// Start initialises and starts a server in a new temporary directory.
func Start(ctx context.Context) (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	sweep(bin)
	s := &Server{bin: bin}
	if s.cred, err = credential(); err != nil {
		return nil, err
	}
	if err := s.init(ctx); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// URL is the server's address for database name.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.dir }

// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.run(ctx, "pg_ctl", "stop", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w")
	return errors.Join(err, os.RemoveAll(s.dir))
}

// init makes the data directory and runs initdb in it.
func (s *Server) init(ctx context.Context) error {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	s.dir = dir
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return fmt.Errorf("postgres data dir: %w", err)
	}
	if s.cred != nil {
		for _, p := range []string{dir, data} {
			if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("postgres data dir: %w", err)
			}
		}
	}
	return s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
}

// start starts the server on a free port and waits until it accepts
// connections.
func (s *Server) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	opts := fmt.Sprintf("-k %s -h 127.0.0.1 -p %d -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
		s.dir, port)
	return s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", filepath.Join(s.dir, "data"),
		"-l", filepath.Join(s.dir, "server.log"), "-o", opts)
}

// run runs a PostgreSQL program as the server's user.
func (s *Server) run(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, prog), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = "/"
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	// pg_ctl start leaves the server running with our output pipes
	// unless told otherwise: WaitDelay ends the wait for them.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return fmt.Errorf("%s: %w: %s", prog, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// findBin finds initdb and pg_ctl on PATH or in Debian's
// /usr/lib/postgresql/<version>/bin, newest version first.
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if dir := filepath.Dir(p); fileExists(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && fileExists(filepath.Join(filepath.Dir(r), "initdb")) {
			return filepath.Dir(r), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// credential is the postgres user's when running as root, else nil.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres user (PostgreSQL will not run as root): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort asks the kernel for a free localhost TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sweep stops and removes servers left by test processes that died.
func sweep(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue // its owner lives
		}
		cred, _ := credential()
		s := &Server{dir: d, bin: bin, cred: cred}
		s.Stop()
	}
}

// withDB returns u with its database name replaced.
func withDB(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("postgres url: %w", err)
	}
	p.Path = "/" + name
	return p.String(), nil
}

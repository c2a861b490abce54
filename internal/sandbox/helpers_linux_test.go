package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	tmp, err := os.MkdirTemp("", "orbistest-init-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildInitProgram(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(tmp)
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// buildInitProgram builds orbis-init and orbis-idle into dir (or takes
// the ones $ORBIS_TEST_INIT_PROGRAM and $ORBIS_TEST_IDLE_PROGRAM name,
// where there is no toolchain, as in make test-vm) and makes the package's
// inits run them, noting them in a hint file of dir's: the tests check the
// init programs, not a copy of the test binary.
func buildInitProgram(dir string) error {
	prog := os.Getenv("ORBIS_TEST_INIT_PROGRAM")
	if prog == "" {
		prog = filepath.Join(dir, InitProgramName)
		build := exec.Command("go", "build", "-o", prog, "./cmd/orbis-init")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build orbis-init: %w\n%s", err, out)
		}
	}
	idle := os.Getenv("ORBIS_TEST_IDLE_PROGRAM")
	if idle == "" {
		idle = filepath.Join(dir, IdleProgramName)
		cc := "cc"
		if _, err := exec.LookPath("musl-gcc"); err == nil {
			cc = "musl-gcc"
		}
		build := exec.Command(cc, "-static", "-Os", "-o", idle, "./cmd/orbis-idle/idle.c")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build orbis-idle: %w\n%s", err, out)
		}
	}
	initProgram = func() string { return prog }
	idleProgram = func() string { return idle }
	initHintFile = filepath.Join(dir, "hint", "init")
	return nil
}

// forgetInit makes this process forget its sealed init, as another
// process would start with none.
func forgetInit(t testing.TB) {
	t.Helper()
	initExe.mu.Lock()
	defer initExe.mu.Unlock()
	if initExe.path != "" {
		initExe.init.Close()
		if initExe.idle != nil {
			initExe.idle.Close()
		}
	}
	initExe.path, initExe.small, initExe.init, initExe.idle = "", false, nil, nil
}

// waitIdle waits until the sliver's init has exited.
func waitIdle(t testing.TB, cfg Config) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, running := InitPid(cfg); !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sliver's init did not exit")
		}
		time.Sleep(time.Millisecond)
	}
}

var (
	imageOnce sync.Once
	imageDir  string
	imageErr  error
)

// testImage returns a root-owned busybox root shared by the package's
// tests, made once; TestMain removes it.
func testImage(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orbistest-image-")
		if err != nil {
			imageErr = err
			return
		}
		imageDir = dir
		imageErr = buildBusybox(dir)
	})
	if imageErr != nil {
		t.Fatalf("busybox image (apt-get install busybox-static): %v", imageErr)
	}
	return imageDir
}

func buildBusybox(root string) error {
	for _, d := range []string{"bin", "sbin", "etc", "tmp", "proc", "dev", "sys", "root", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
		"etc/group":    "root:x:0:\ntty:x:5:\nuser:x:1000:\n",
		"etc/hostname": "image\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// testSliver prepares a sliver with its own directories and stops it at
// the end of the test.
func testSliver(t *testing.T, name string, base uint32) Config {
	t.Helper()
	testutil.RequireRoot(t)
	return testSliverOf(t, name, base, testImage(t))
}

// testSliverOf is testSliver with the given image.
func testSliverOf(t *testing.T, name string, base uint32, image string) Config {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Name:     name,
		Image:    image,
		Upper:    filepath.Join(dir, "upper"),
		Work:     filepath.Join(dir, "work"),
		RunDir:   filepath.Join(dir, "run"),
		UIDBase:  base,
		UIDCount: 65536,
	}
	if err := Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := Stop(ctx, cfg); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return cfg
}

// run starts a shell command in the sliver as root and waits for it.
func run(t *testing.T, cfg Config, script string) (string, int) {
	t.Helper()
	return runCmd(t, cfg, Cmd{Args: []string{"/bin/sh", "-c", script}})
}

func runCmd(t *testing.T, cfg Config, cmd Cmd) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := Start(testutil.Context(t), cfg, cmd, testutil.Logger(t))
	if err != nil {
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	code, err := p.Wait()
	if err != nil {
		t.Fatalf("wait %q: %v", cmd.Args, err)
	}
	return out.String(), code
}

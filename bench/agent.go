package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orbisproject/orbis/api"

	"github.com/orbisproject/orbis/internal/node"
)

// agent is a running node agent, `orbis node`, started from the built
// binary in a network namespace of its own with a veth as its uplink: the whole
// node, network layer (packet tagging, HTB shaping) included, as users
// meet it. Its state is in a temporary directory, its cgroups under a
// parent named after this process, its UIDs in a range of its own.
type agent struct {
	bin    string // directory of orbis and orbis-init
	state  string
	cgroup string
	proc   *exec.Cmd
	nm     *api.NMClient
}

func startAgent(ctx context.Context, bin, profile string) (*agent, error) {
	for _, p := range []string{"orbis", "orbis-init"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			return nil, fmt.Errorf("%w (run make build)", err)
		}
	}
	state, err := os.MkdirTemp("/var/tmp", "orbisbench-")
	if err != nil {
		return nil, err
	}
	a := &agent{bin: bin, state: state, cgroup: fmt.Sprintf("orbisbench%d", os.Getpid())}
	if out, err := a.orbis(ctx, "image", "build", "--state", state, "busybox"); err != nil {
		a.close()
		return nil, fmt.Errorf("image build: %w: %s", err, out)
	}
	uidBase := 1<<31 + uint64(os.Getpid()%8)<<27
	script := `ip link set lo up && ip link add up0 type veth peer name up1 && ip link set up0 up && ip link set up1 up && exec "$@"`
	args := []string{"--net", "sh", "-c", script, "sh",
		filepath.Join(bin, "orbis"), "node", "--state", state, "--nm-socket", a.socket(), "--cgroup-parent", a.cgroup,
		"--uplink", "up0", "--ssh-addr", "", "--sensor-addr", "", "--audit-addr", "", "--policy", "",
		"--port-scope", "node", "--uid-base", strconv.FormatUint(uidBase, 10), "--uid-ranges", "2000", "--suspend-on-exit"}
	if profile != "" {
		args = append(args, "--cpu-profile", profile)
	}
	a.proc = exec.Command("unshare", args...)
	a.proc.Stdout, _ = os.Create(filepath.Join(state, "agent.log"))
	a.proc.Stderr = a.proc.Stdout
	if err := a.proc.Start(); err != nil {
		a.close()
		return nil, err
	}
	a.nm = api.NewNMClient(a.socket())
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := a.nm.List(ctx); err == nil {
			return a, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(state, "agent.log"))
			a.close()
			return nil, fmt.Errorf("the node agent did not answer:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *agent) socket() string { return filepath.Join(a.state, "nm.sock") }

// orbis runs the orbis CLI and returns its standard output.
func (a *agent) orbis(ctx context.Context, args ...string) ([]byte, error) {
	return a.orbisIn(ctx, nil, args...)
}

func (a *agent) orbisIn(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, filepath.Join(a.bin, "orbis"), args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	if err := c.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("orbis %s: %w: %s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), nil
}

// cliCreate is what a user's or broker's script does: `orbis nm acquire`,
// `orbis nm bind` and `orbis sliver exec NAME -- /bin/true`, three
// processes, until /bin/true has exited.
func (a *agent) cliCreate(ctx context.Context, name string) error {
	rspec := `{"cpu_shares":1,"privileges":{"create_sliver":true}}`
	out, err := a.orbis(ctx, "nm", "acquire", "--socket", a.socket(), rspec)
	if err != nil {
		return err
	}
	var got struct {
		Rcap api.Rcap `json:"rcap"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return fmt.Errorf("acquire: %w: %s", err, out)
	}
	bind, _ := json.Marshal(api.BindRequest{Slice: name, Rcap: got.Rcap})
	if _, err := a.orbisIn(ctx, bind, "nm", "bind", "--socket", a.socket()); err != nil {
		return err
	}
	return a.cliExec(ctx, name)
}

// nmCreate is the same path in two CLI processes: `orbis nm create`
// (acquire and bind in one call) and `orbis sliver exec NAME -- /bin/true`.
func (a *agent) nmCreate(ctx context.Context, name string) error {
	req := fmt.Sprintf(`{"slice":%q,"rspec":{"cpu_shares":1}}`, name)
	if _, err := a.orbis(ctx, "nm", "create", "--socket", a.socket(), req); err != nil {
		return err
	}
	return a.cliExec(ctx, name)
}

// cliExec is `orbis sliver exec NAME -- /bin/true`, run in the agent's
// network namespace (nsenter), as slivers share the node's.
func (a *agent) cliExec(ctx context.Context, name string) error {
	exec := exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", a.proc.Process.Pid),
		filepath.Join(a.bin, "orbis"), "sliver", "exec", "--state", a.state, "--cgroup-parent", a.cgroup, name, "--", "/bin/true")
	if out, err := exec.CombinedOutput(); err != nil {
		return fmt.Errorf("orbis sliver exec: %w: %s", err, out)
	}
	return nil
}

// runCreate is the same path in one CLI process: `orbis sliver run NAME --
// /bin/true` acquires, binds and runs.
func (a *agent) runCreate(ctx context.Context, name string) error {
	exec := exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", a.proc.Process.Pid),
		filepath.Join(a.bin, "orbis"), "sliver", "run", "--nm-socket", a.socket(), "--state", a.state, "--cgroup-parent", a.cgroup,
		name, "--", "/bin/true")
	if out, err := exec.CombinedOutput(); err != nil {
		return fmt.Errorf("orbis sliver run: %w: %s", err, out)
	}
	return nil
}

// apiCreate is a broker's path in process: acquire and bind through the
// node manager's socket, with a boot script; bind returns when the boot
// script has started.
func (a *agent) apiCreate(ctx context.Context, name, script string) error {
	rc, err := a.nm.Acquire(ctx, api.Rspec{CPUShares: 1, Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	if err := a.nm.Bind(ctx, name, rc, api.BindAttrs{InitScript: script}); err != nil {
		return fmt.Errorf("bind %s: %w", name, err)
	}
	return nil
}

// close stops the agent, which stops every sliver (--suspend-on-exit),
// and removes its state and cgroups.
func (a *agent) close() {
	if a.proc != nil && a.proc.Process != nil {
		a.proc.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- a.proc.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			a.proc.Process.Kill()
			<-done
		}
	}
	if err := syscall.Unmount(filepath.Join(a.state, "disk"), syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		fmt.Fprintln(os.Stderr, "bench: unmount:", err)
	}
	removeCgroups(a.cgroup)
	if _, err := node.RemoveStaleRunFiles(a.cgroup); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.RemoveAll(a.state)
}

// removeCgroups removes the cgroup tree named parent in every hierarchy,
// deepest first.
func removeCgroups(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

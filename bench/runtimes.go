package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// runtimes are the other container runtimes, each running /bin/true in a
// container of the same busybox root file system, read-only: runc, crun
// (one OCI bundle) and lxc-execute, and the floor, a C program doing only
// what every one of them must.
type runtimes struct {
	dir, rootfs, bundle, floor string
	n                          int
	// crunNS holds a mount namespace without the cgroup v2 tree: crun
	// refuses this machine's hybrid cgroups (v1 controllers beside a
	// controller-less v2 tree) unless it sees v1 alone.
	crunNS *exec.Cmd
}

func newRuntimes(ctx context.Context, dir, rootfs string) (*runtimes, error) {
	r := &runtimes{dir: dir, rootfs: rootfs, bundle: filepath.Join(dir, "bundle")}
	if err := os.MkdirAll(r.bundle, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "runc", "spec", "--bundle", r.bundle).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	if err := editSpec(filepath.Join(r.bundle, "config.json"), rootfs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "lxc"), 0o755); err != nil {
		return nil, err
	}
	lxc := fmt.Sprintf("lxc.rootfs.path = dir:%s\nlxc.net.0.type = empty\nlxc.uts.name = bench\n", rootfs)
	if err := os.WriteFile(filepath.Join(dir, "lxc.conf"), []byte(lxc), 0o644); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "floor.c")
	if err := os.WriteFile(src, []byte(floorC), 0o644); err != nil {
		return nil, err
	}
	r.crunNS = exec.Command("unshare", "--mount", "sh", "-c", "umount /sys/fs/cgroup/unified; exec sleep 1000000")
	if err := r.crunNS.Start(); err != nil {
		return nil, err
	}
	r.floor = filepath.Join(dir, "floor")
	if out, err := exec.CommandContext(ctx, "cc", "-O2", "-o", r.floor, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cc floor.c: %v: %s", err, out)
	}
	return r, nil
}

func (r *runtimes) close() {
	if r.crunNS != nil && r.crunNS.Process != nil {
		r.crunNS.Process.Kill()
		r.crunNS.Wait()
	}
}

func (r *runtimes) id() string { r.n++; return fmt.Sprintf("orbisbench%d-%d", os.Getpid(), r.n) }

func (r *runtimes) runc(ctx context.Context) error {
	return runQuiet(ctx, "runc", "--root", filepath.Join(r.dir, "runc"), "run", "--bundle", r.bundle, r.id())
}

func (r *runtimes) crun(ctx context.Context) error {
	return runQuiet(ctx, "nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", r.crunNS.Process.Pid),
		"crun", "--root", filepath.Join(r.dir, "crun"), "run", "--bundle", r.bundle, r.id())
}

func (r *runtimes) lxc(ctx context.Context) error {
	return runQuiet(ctx, "lxc-execute", "-P", filepath.Join(r.dir, "lxc"), "-n", r.id(), "-f", filepath.Join(r.dir, "lxc.conf"), "--", "/bin/true")
}

func (r *runtimes) floorRun(ctx context.Context) error {
	return runQuiet(ctx, r.floor, r.rootfs, fmt.Sprint(2<<30+os.Getpid()%8<<27))
}

func runQuiet(ctx context.Context, name string, args ...string) error {
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}

// editSpec points runc's default spec at rootfs, read-only, running
// /bin/true without a terminal.
func editSpec(path, rootfs string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	spec["root"] = map[string]any{"path": rootfs, "readonly": true}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// floorC clones into new user, mount, PID, UTS and IPC namespaces, maps
// a UID range, binds the root file system, pivots into it and executes
// /bin/true, then waits for it: the least a container start does.
const floorC = `#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *root;
static int pipefd[2];
static char stack[1 << 16];

static void die(const char *what) { perror(what); exit(1); }

static int child(void *arg) {
	char c;
	(void)arg;
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1) die("read");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("mount private");
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL)) die("bind root");
	if (chdir(root)) die("chdir");
	if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root");
	if (umount2(".", MNT_DETACH)) die("umount old root");
	if (chdir("/")) die("chdir /");
	execl("/bin/true", "true", (char *)NULL);
	die("exec");
	return 1;
}

static void write_file(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, s, strlen(s)) < 0) die(path);
	close(fd);
}

int main(int argc, char **argv) {
	char path[64], map[64];
	int status;
	if (argc != 3) { fprintf(stderr, "usage: floor ROOT UIDBASE\n"); return 2; }
	root = argv[1];
	if (pipe(pipefd)) die("pipe");
	pid_t pid = clone(child, stack + sizeof stack, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, NULL);
	if (pid < 0) die("clone");
	snprintf(map, sizeof map, "0 %s 65536\n", argv[2]);
	snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
	write_file(path, map);
	snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
	write_file(path, map);
	if (write(pipefd[1], "g", 1) != 1) die("write");
	close(pipefd[1]);
	if (waitpid(pid, &status, 0) < 0) die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
`

package rootfs

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// busyboxDirs are the directories of a busybox image, with their modes.
var busyboxDirs = []struct {
	path string
	mode os.FileMode
}{
	{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
	{"etc", 0o755}, {"root", 0o700}, {"home", 0o755}, {"tmp", 0o777 | os.ModeSticky},
	{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755}, {"mnt", 0o755},
	{"opt", 0o755}, {"srv", 0o755}, {"var/log", 0o755}, {"var/tmp", 0o777 | os.ModeSticky},
}

// busyboxFiles are the configuration files of a busybox image.
var busyboxFiles = map[string]string{
	"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
	"etc/group":    "root:x:0:\nnogroup:x:65534:\n",
	"etc/hostname": "orbis\n",
	"etc/hosts":    "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
	"etc/profile": `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME="${HOME:-/root}"
PS1='\u@\h:\w\$ '
`,
}

// buildBusybox makes a tree at root from the host's static busybox: the FHS
// directories, busybox itself in /bin (without the applets that images
// replace: see hiddenApplets), a symlink to it per applet, and minimal
// files in /etc.
func (s *Store) buildBusybox(ctx context.Context, root string, progress io.Writer) error {
	if err := checkStatic(s.opts.Busybox); err != nil {
		return err
	}
	applets, err := busyboxApplets(ctx, s.opts.Busybox)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "busybox: creating directories\n")
	for _, d := range busyboxDirs {
		p := filepath.Join(root, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d.path, err)
		}
		// Chmod, since MkdirAll's mode is filtered by the umask.
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", d.path, err)
		}
	}
	for name, content := range busyboxFiles {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := copyFile(s.opts.Busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	if err := hideApplets(filepath.Join(root, "bin/busybox"), applets, hiddenApplets); err != nil {
		return err
	}
	linked := 0
	for _, a := range applets {
		p := filepath.Join(root, a)
		if _, err := os.Lstat(p); err == nil {
			continue // bin/busybox itself, or a duplicate
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("link applet %s: %w", a, err)
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return fmt.Errorf("link applet %s: %w", a, err)
		}
		if linked++; linked%100 == 0 {
			fmt.Fprintf(progress, "busybox: linked %d/%d applets\n", linked, len(applets))
		}
	}
	fmt.Fprintf(progress, "busybox: linked %d applets\n", linked)
	if _, err := os.Lstat(filepath.Join(root, "bin/sh")); err != nil {
		return fmt.Errorf("busybox %s has no sh applet", s.opts.Busybox)
	}
	return nil
}

// busyboxApplets returns the applets' paths relative to the root
// ("bin/ls", "usr/bin/awk"), from `busybox --list-full` or, for a busybox
// without it, `busybox --list` placed in bin/.
func busyboxApplets(ctx context.Context, busybox string) ([]string, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	prefix := ""
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		if out, err = exec.CommandContext(ctx, busybox, "--list").Output(); err != nil {
			return nil, fmt.Errorf("list busybox applets (is busybox-static installed?): %w", err)
		}
		prefix = "bin/"
	}
	var applets []string
	for _, line := range strings.Fields(string(out)) {
		p := filepath.Clean(prefix + line)
		if filepath.IsAbs(p) || p == "." || strings.HasPrefix(p, "..") {
			return nil, fmt.Errorf("busybox applet with odd path %q", line)
		}
		applets = append(applets, p)
	}
	return applets, nil
}

// checkStatic fails unless path is a statically linked ELF program, since a
// busybox image holds no shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("open busybox (is busybox-static installed?): %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return os.Chmod(dst, mode)
}

package sandbox

import (
	"strings"
	"testing"
)

// TestValidateFiles checks that InstallFiles refuses, with a clear error,
// a file it must not write.
func TestValidateFiles(t *testing.T) {
	ok := File{Path: "/root/.ssh/authorized_keys", Dirs: []Dir{{Path: "/root", Mode: 0o700}, {Path: "/root/.ssh", Mode: 0o700}}, Mode: 0o600}
	if err := validateFiles([]File{ok}); err != nil {
		t.Fatalf("a good file refused: %v", err)
	}
	for _, c := range []struct {
		what string
		f    File
		want string
	}{
		{"relative path", File{Path: "etc/rc.vinit"}, "absolute, clean"},
		{"unclean path", File{Path: "/etc/../proc/x"}, "absolute, clean"},
		{"the root", File{Path: "/"}, "absolute, clean"},
		{"in /proc", File{Path: "/proc/sys/kernel/x"}, "the sandbox's own"},
		{"in /run/orbis", File{Path: "/run/orbis/x"}, "the sandbox's own"},
		{"directory off the way", File{Path: "/etc/x", Dirs: []Dir{{Path: "/root"}}}, "not on its way"},
		{"too large", File{Path: "/etc/x", Data: make([]byte, maxFileData+1)}, "bytes (max"},
	} {
		t.Run(c.what, func(t *testing.T) {
			if err := validateFiles([]File{c.f}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	if err := validateFiles(make([]File, maxFiles+1)); err == nil {
		t.Error("too many files accepted")
	}
}

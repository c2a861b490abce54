package rootfs

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestInstallNetTools: ping-orbis becomes ping and traceroute, and
// plabdump and orbis-admin beside it are installed too; without them the
// image still builds.
func TestInstallNetTools(t *testing.T) {
	for _, withDump := range []bool{true, false} {
		bin, root := t.TempDir(), t.TempDir()
		tools := filepath.Join(bin, NetToolsName)
		write := func(p, s string) {
			if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write(tools, "ping")
		if withDump {
			write(filepath.Join(bin, DumpToolName), "dump")
			write(filepath.Join(bin, AdminToolName), "admin")
		}
		if err := installNetTools(tools, root, io.Discard); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"usr/bin/ping": "ping", "usr/bin/traceroute": "ping"}
		if withDump {
			want["usr/bin/plabdump"] = "dump"
			want["usr/bin/orbis-admin"] = "admin"
		}
		for link, content := range want {
			got, err := os.ReadFile(filepath.Join(root, "usr/lib/orbis", filepath.Base(mustReadlink(t, filepath.Join(root, link)))))
			if err != nil || string(got) != content {
				t.Errorf("with plabdump %v: %s leads to %q, %v; want %q", withDump, link, got, err, content)
			}
		}
		for _, tool := range []string{"usr/bin/plabdump", "usr/bin/orbis-admin"} {
			if _, err := os.Lstat(filepath.Join(root, tool)); withDump == os.IsNotExist(err) {
				t.Errorf("with plabdump %v: /%s: %v", withDump, tool, err)
			}
		}
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

package rootfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAptMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "deb822 skips security",
			files: map[string]string{"sources.list.d/debian.sources": `Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://deb.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main
`},
			want: "http://deb.debian.org/debian",
		},
		{
			name: "one-line with options",
			files: map[string]string{
				"sources.list": "# deb http://commented.example/debian bookworm main\n" +
					"deb-src http://src.example/debian bookworm main\n" +
					"deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n",
			},
			want: "http://mirror.example/debian",
		},
		{
			name: "other vendors ignored",
			files: map[string]string{
				"sources.list":                    "",
				"sources.list.d/google.list":      "deb https://packages.cloud.google.com/apt cloud-sdk main\n",
				"sources.list.d/node.sources":     "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n",
				"sources.list.d/z-debian.sources": "Types: deb\nURIs: http://ftp.example/debian\nEnabled: yes\n",
			},
			want: "http://ftp.example/debian",
		},
		{name: "none", files: map[string]string{"sources.list": "deb https://example/apt x main\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := AptMirror(dir)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("AptMirror = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDebootstrapArgs(t *testing.T) {
	got := debootstrapArgs("stable", "/s/images/.tmp-d-1/rootfs", "http://m/debian", []string{"openssh-sftp-server", "less"})
	want := []string{"--variant=minbase", "--include=openssh-sftp-server,less", "stable", "/s/images/.tmp-d-1/rootfs", "http://m/debian"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args = %q, want %q", got, want)
	}
}

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out)
	fmt.Fprintln(s, "I: Retrieving InRelease ")
	fmt.Fprintln(s, "I: Checking Release signature")
	for i := 0; i < 120; i++ {
		fmt.Fprintf(s, "I: Retrieving pkg%d %d.0\n", i, i)
		fmt.Fprintf(s, "I: Validating pkg%d %d.0\n", i, i)
	}
	fmt.Fprintln(s, "W: something odd")
	fmt.Fprintln(s, "I: Unpacking the base system...")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(s, "I: Unpacking pkg%d...\n", i)
	}
	fmt.Fprintln(s, "I: Configuring pkg0...")
	fmt.Fprint(s, "I: Base system installed successfully.") // no newline at the end
	s.Close()
	want := `I: Retrieving InRelease 
I: Checking Release signature
I: Retrieving ... 50 so far
I: Validating ... 50 so far
I: Retrieving ... 100 so far
I: Validating ... 100 so far
I: Retrieving 120, Validating 120 packages
W: something odd
I: Unpacking the base system...
I: Unpacking 3, Configuring 1 packages
I: Base system installed successfully.
`
	if out.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.Contains(s.Tail(), "Base system installed") {
		t.Errorf("Tail = %q", s.Tail())
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1536: "1.5K", 206 << 20: "206.0M", 3 << 30: "3.0G"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

package upgrade

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// self is this test binary: an ELF executable for this machine.
func self(t *testing.T) []byte {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublishSigns(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBuilds(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Publish("1.2.3", runtime.GOARCH, bytes.NewReader(self(t)), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !api.VerifyUpgrade(u, b.PublicKey()) {
		t.Fatal("published build's signature does not verify")
	}
	tampered := u
	tampered.Version = "1.2.4"
	if api.VerifyUpgrade(tampered, b.PublicKey()) {
		t.Fatal("a changed version still verifies")
	}
	// The key and the build survive a restart of central.
	again, err := OpenBuilds(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := again.Current(); !ok || cur.SHA256 != u.SHA256 || !bytes.Equal(again.PublicKey(), b.PublicKey()) {
		t.Fatalf("after reopening: build %+v ok %v, same key %v", cur, ok, bytes.Equal(again.PublicKey(), b.PublicKey()))
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name, version, arch string
		data                []byte
		percent             int
		maxSize             int64
		want                string
	}{
		{"not ELF", "1", runtime.GOARCH, []byte("#!/bin/sh\necho hi\n"), 0, 0, "not an ELF executable"},
		{"other arch", "1", other, self(t), 0, 0, "not " + other},
		{"too large", "1", runtime.GOARCH, self(t), 0, 1 << 10, "larger than 1024 bytes"},
		{"bad version", "1 2", runtime.GOARCH, self(t), 0, 0, "version"},
		{"unknown arch", "1", "vax", self(t), 0, 0, "unknown architecture"},
		{"bad percent", "1", runtime.GOARCH, self(t), 101, 0, "percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := OpenBuilds(t.TempDir(), tc.maxSize)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Publish(tc.version, tc.arch, bytes.NewReader(tc.data), nil, tc.percent)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Publish: %v, want an error saying %q", err, tc.want)
			}
			if _, ok := b.Current(); ok {
				t.Fatal("a refused build was published")
			}
		})
	}
}

func TestOfferedTo(t *testing.T) {
	if !OfferedTo(api.Upgrade{NodeIDs: []int64{3}}, 3) || OfferedTo(api.Upgrade{NodeIDs: []int64{3}}, 4) {
		t.Fatal("named nodes")
	}
	n := 0
	for id := int64(1); id <= 1000; id++ {
		if OfferedTo(api.Upgrade{Percent: 30}, id) {
			n++
			if !OfferedTo(api.Upgrade{Percent: 60}, id) {
				t.Fatalf("node %d chosen at 30%% but not at 60%%", id)
			}
		}
	}
	if n < 200 || n > 400 {
		t.Fatalf("30%% chose %d of 1000 nodes", n)
	}
}

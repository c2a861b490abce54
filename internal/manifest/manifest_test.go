package manifest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTar writes an archive of hdrs (a regular file's body is its
// Linkname field's text when Size says so) and returns its path.
func writeTar(t *testing.T, gz bool, entries []tar.Header, bodies map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var z *gzip.Writer
	if gz {
		z = gzip.NewWriter(&buf)
		w = z
	}
	tw := tar.NewWriter(w)
	for _, h := range entries {
		body := bodies[h.Name]
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, body)
		}
	}
	tw.Close()
	if z != nil {
		z.Close()
	}
	p := filepath.Join(t.TempDir(), "tree.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostileArchives(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hdr   tar.Header
		wants string
	}{
		{"absolute", tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, "absolute path"},
		{"dotdot", tar.Header{Name: "a/../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, "out of the tree"},
		{"dotdot-only", tar.Header{Name: "..", Typeflag: tar.TypeDir, Mode: 0o755}, "out of the tree"},
		{"unclean", tar.Header{Name: "a//b", Typeflag: tar.TypeReg, Mode: 0o644}, "not clean"},
		{"symlink-absolute", tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, "absolute path"},
		{"symlink-out", tar.Header{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "../../etc"}, "leads out of the tree"},
		{"char-device", tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, "device file"},
		{"block-device", tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8}, "device file"},
		{"fifo", tar.Header{Name: "p", Typeflag: tar.TypeFifo}, "only directories, regular files and symlinks"},
		{"huge", tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: 1 << 40, Mode: 0o644}, "over the limit"},
		{"hardlink-missing", tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "nothere"}, "hard link"},
		{"temp-name", tar.Header{Name: ".orbis-tmp-x", Typeflag: tar.TypeReg, Mode: 0o644}, "installer's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := hostileTar(t, tc.hdr)
			_, err := FromArchive(p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("FromArchive(%s) = %v, want an ErrInvalid saying %q", tc.name, err, tc.wants)
			}
		})
	}
}

// hostileTar writes an archive with hdr; a huge file's header claims a
// size its (truncated) body does not have, as an attacker's would.
func hostileTar(t *testing.T, hdr tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&hdr); err != nil {
		t.Fatal(err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size < 1<<20 {
		tw.Write(bytes.Repeat([]byte("x"), int(hdr.Size)))
		tw.Close()
	}
	p := filepath.Join(t.TempDir(), "hostile.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestArchiveAndDirAgree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin/run"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "README"), []byte("hello\n"), 0o644)
	os.Symlink("bin/run", filepath.Join(dir, "run"))
	fromDir, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The same tree as a gzipped archive, without its directory entry
	// and with the usual "./" prefixes and a hard link.
	arch := writeTar(t, true, []tar.Header{
		{Name: "./README", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./bin/run", Typeflag: tar.TypeReg, Mode: 0o4755},
		{Name: "./run", Typeflag: tar.TypeSymlink, Linkname: "bin/run"},
	}, map[string]string{"./README": "hello\n", "./bin/run": "#!/bin/sh\necho hi\n"})
	fromTar, err := FromArchive(arch)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fromDir.Manifest.Encode(), fromTar.Manifest.Encode()
	if !bytes.Equal(a, b) {
		t.Fatalf("directory and archive manifests differ:\n%s\n%s", a, b)
	}
	m, h, err := Decode(a)
	if err != nil || h != Hash(a) || len(m.Entries) != 4 {
		t.Fatalf("Decode: %v %s %d entries", err, h, len(m.Entries))
	}
	// Every blob can be read back, once, with its content.
	hashes, _ := fromTar.Manifest.Blobs()
	need := map[string]bool{}
	for _, h := range hashes {
		need[h] = true
	}
	got := map[string]string{}
	err = fromTar.EachBlob(need, func(h string, size int64, r io.Reader) error {
		b, _ := io.ReadAll(r)
		got[h] = string(b)
		return nil
	})
	if err != nil || len(got) != 2 || got[fromTar.Manifest.Lookup("README").SHA256] != "hello\n" {
		t.Fatalf("EachBlob: %v %q", err, got)
	}
}

func TestDecodeRefusesNonCanonical(t *testing.T) {
	for name, data := range map[string]string{
		"unsorted":  `{"version":1,"entries":[{"path":"b","type":"dir","mode":493},{"path":"a","type":"dir","mode":493}]}`,
		"spaces":    `{"version":1, "entries":[]}`,
		"orphan":    `{"version":1,"entries":[{"path":"a/b","type":"dir","mode":493}]}`,
		"setuid":    `{"version":1,"entries":[{"path":"a","type":"file","mode":2541,"size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}`,
		"badhash":   `{"version":1,"entries":[{"path":"a","type":"file","mode":420,"sha256":"xyz"}]}`,
		"unknown":   `{"version":1,"entries":[],"x":1}`,
		"version":   `{"version":2,"entries":[]}`,
		"duplicate": `{"version":1,"entries":[{"path":"a","type":"dir","mode":493},{"path":"a","type":"dir","mode":493}]}`,
	} {
		if _, _, err := Decode([]byte(data)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCompare(t *testing.T) {
	f := func(p, h string) Entry { return Entry{Path: p, Type: File, Mode: 0o644, SHA256: strings.Repeat(h, 64)} }
	d := func(p string) Entry { return Entry{Path: p, Type: Dir, Mode: 0o755} }
	old := &Manifest{Entries: []Entry{d("a"), f("a/x", "1"), f("a/y", "2"), d("b"), f("b/z", "3")}}
	new := &Manifest{Entries: []Entry{d("a"), f("a/x", "1"), f("a/y", "4"), f("c", "5")}}
	diff := Compare(old, new)
	var w, r []string
	for _, e := range diff.Write {
		w = append(w, e.Path)
	}
	for _, e := range diff.Remove {
		r = append(r, e.Path)
	}
	if strings.Join(w, ",") != "a/y,c" || strings.Join(r, ",") != "b/z,b" {
		t.Fatalf("Compare: write %v remove %v, want [a/y c] and [b/z b] (children first)", w, r)
	}
	if all := Compare(nil, new); len(all.Write) != 4 || len(all.Remove) != 0 {
		t.Fatalf("Compare(nil) = %+v", all)
	}
}

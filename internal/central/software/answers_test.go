package software

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orbisproject/orbis/api"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestAnswersKept: nodes asking for the same blobs of a slice at once
// get the same frames, read from disk once; another slice's request is
// not answered from it; a missing blob is not kept.
func TestAnswersKept(t *testing.T) {
	b, err := NewBlobs(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"alpha", strings.Repeat("b", 70000)}
	var hashes []string
	for _, f := range files {
		if _, err := b.Put(1, sha(f), int64(len(f)), strings.NewReader(f)); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, sha(f))
	}
	a := newAnswers()
	var builds atomic.Int32
	build := func(slice int64) func() ([]byte, error) {
		return func() ([]byte, error) { builds.Add(1); return b.buildAnswer(slice, hashes) }
	}
	var wg sync.WaitGroup
	got := make([][]byte, 20)
	for i := range got {
		wg.Go(func() { got[i] = a.get(1, hashes, build(1)) })
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("20 requests read the blobs %d times, want once", n)
	}
	br := bufio.NewReader(bytes.NewReader(got[19]))
	for i, f := range files {
		h, size, err := api.ReadBlobFrame(br)
		data := make([]byte, max(size, 0))
		io.ReadFull(br, data)
		if err != nil || h != hashes[i] || string(data) != f {
			t.Fatalf("frame %d: %.12s %d %v", i, h, size, err)
		}
	}
	// Slice 2 has none of these blobs: its answer is not slice 1's.
	if data := a.get(2, hashes, build(2)); data != nil {
		t.Errorf("slice 2 got an answer of %d bytes from slice 1's blobs", len(data))
	}
	if data := a.get(2, hashes, build(2)); data != nil || builds.Load() != 3 {
		t.Errorf("a failed answer was kept (%d builds)", builds.Load())
	}
}

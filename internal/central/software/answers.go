package software

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/api"
)

// After a push every node of the slice asks for the same blobs in the
// same order (all of them the first time, the changed ones after), so
// central keeps the last few node answers in memory, whole: the first
// node's request reads the blobs from disk, and the others get its
// bytes in one write, while they wait for it rather than read the same
// files again. Answers are per slice (slices do not share blobs) and
// content-addressed, so a kept one is never wrong; memory is bounded.

// Bounds of the kept answers.
const (
	answerMax  = 8 << 20  // a larger answer is streamed from disk
	answersMax = 32 << 20 // all answers together
)

// answer is one kept node answer, built once.
type answer struct {
	ready chan struct{} // closed once data is set (nil: not kept)
	data  []byte
}

// answers keeps the recent node answers, oldest first.
type answers struct {
	// mu guards the following.
	mu    sync.Mutex
	byKey map[string]*answer
	order []string
	size  int64
}

func newAnswers() *answers { return &answers{byKey: map[string]*answer{}} }

func answerKey(sliceID int64, hashes []string) string {
	sum := sha256.Sum256([]byte(strings.Join(hashes, ",")))
	return fmt.Sprintf("%d/%s", sliceID, hex.EncodeToString(sum[:]))
}

// get returns the answer with the frames of the slice's blobs hashes:
// built by build if no other request is building it, nil if it is not
// kept (too large, or a blob is missing).
func (a *answers) get(sliceID int64, hashes []string, build func() ([]byte, error)) []byte {
	key := answerKey(sliceID, hashes)
	a.mu.Lock()
	ans := a.byKey[key]
	if ans != nil {
		a.mu.Unlock()
		<-ans.ready
		return ans.data
	}
	ans = &answer{ready: make(chan struct{})}
	a.byKey[key] = ans
	a.mu.Unlock()

	data, err := build()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || int64(len(data)) > answerMax {
		delete(a.byKey, key)
		close(ans.ready)
		return nil
	}
	ans.data = data
	close(ans.ready)
	a.order = append(a.order, key)
	a.size += int64(len(data))
	for a.size > answersMax && len(a.order) > 1 {
		old := a.order[0]
		a.order = a.order[1:]
		a.size -= int64(len(a.byKey[old].data))
		delete(a.byKey, old)
	}
	return data
}

// buildAnswer reads the frames of the slice's blobs hashes, giving up
// past answerMax bytes.
func (b *Blobs) buildAnswer(sliceID int64, hashes []string) ([]byte, error) {
	var buf bytes.Buffer
	for _, h := range hashes {
		f, err := b.Open(sliceID, h)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err == nil && int64(buf.Len())+fi.Size() > answerMax {
			err = fmt.Errorf("answer over %d bytes", answerMax)
		}
		if err == nil {
			err = api.WriteBlobFrame(&buf, h, fi.Size(), f)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

package rawsock

import (
	"bytes"
	"testing"
)

// FuzzParseBatch checks the batch framing: ParseBatch never panics, and
// the entries of a batch it accepts make the same batch again.
func FuzzParseBatch(f *testing.F) {
	b := AppendBatchHeader(nil)
	b = AppendBatchEntry(b, FlagHdrIncl, []byte{0x45, 0, 0, 20})
	b = AppendBatchEntry(b, 0, nil)
	SetBatchCount(b, 2)
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0, 1, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, err := ParseBatch(nil, body)
		if err != nil {
			return
		}
		again := AppendBatchHeader(nil)
		for _, e := range entries {
			again = AppendBatchEntry(again, e.Flags, e.Body)
		}
		SetBatchCount(again, uint16(len(entries)))
		if !bytes.Equal(again, body) {
			t.Fatalf("batch %x parsed into %d entries that make %x", body, len(entries), again)
		}
	})
}

package rawsock

import (
	"testing"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// TestKeptResults: after a batch a sliver filled with refused entries,
// its session keeps neither the results' room nor their bodies.
func TestKeptResults(t *testing.T) {
	big := make([]wire.Message, 16000)
	for i := range big {
		big[i] = resultMsg(uint32(i), wire.StatusRefused, []byte("packet refused"))
	}
	if k := keptResults(big); cap(k) > maxKeptResults {
		t.Errorf("kept room for %d results after a batch of %d", cap(k), len(big))
	}
	small := append(make([]wire.Message, 0, 8), resultMsg(1, wire.StatusRefused, []byte("x")))
	k := keptResults(small)
	if len(k) != 0 || cap(k) != 8 || k[:1][0].Body != nil {
		t.Errorf("kept %d/%d results, first body %q: want room reused, bodies dropped", len(k), cap(k), k[:1][0].Body)
	}
}

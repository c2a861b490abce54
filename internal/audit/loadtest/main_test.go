package loadtest

import (
	"os"
	"testing"

	"github.com/orbisproject/orbis/internal/reexec"
)

// TestMain runs the senders' hidden entry point in the re-executed test
// binary, and the tests otherwise.
func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

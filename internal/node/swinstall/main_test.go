package swinstall

import (
	"os"
	"testing"

	"github.com/orbisproject/orbis/internal/reexec"
)

// TestMain lets the test binary be re-executed as a sliver's init.
func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

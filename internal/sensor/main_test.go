package sensor

import (
	"os"
	"testing"

	"github.com/orbisproject/orbis/internal/reexec"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

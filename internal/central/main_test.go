package central_test

import (
	"os"
	"testing"

	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/reexec"
)

// TestMain runs the hidden entry points of the benchmarks' children, and
// stops the throwaway PostgreSQL server once the tests are done.
func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	os.Exit(pgtest.Run(m))
}

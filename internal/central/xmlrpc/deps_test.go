package xmlrpc

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCodecDependencies: XML-RPC is one codec of plc.Dispatch, a sibling
// of the JSON API, not its host.
func TestCodecDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "the codecs are siblings: each decodes and encodes, plc dispatches", "internal/central/jsonapi")
}

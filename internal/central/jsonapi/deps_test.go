package jsonapi

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCodecDependencies: the JSON API is one codec of plc.Dispatch, a
// sibling of XML-RPC, and borrows nothing from it.
func TestCodecDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "the codecs are siblings: each decodes and encodes, plc dispatches", "internal/central/xmlrpc")
}

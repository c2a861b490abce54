package rm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// Files in the state directory. Both are written whole, crash-safely
// (a temporary file, fsync, rename, fsync of the directory), mode 0600:
// the rcaps are secrets.
const (
	listFile  = "slivers.json" // the last list central sent
	rcapsFile = "rcaps.json"   // the rcaps the resource manager holds
)

// held is what the resource manager holds for one slice.
type held struct {
	// Rcap is the rcap the slice's sliver is (or is to be) bound to.
	Rcap api.Rcap `json:"rcap"`
	// Rspec is the rspec Rcap holds, as asked (at acquire or at the last
	// amend the node manager took).
	Rspec api.Rspec `json:"rspec"`
	// Attrs are the attributes of the last bind that succeeded.
	Attrs api.BindAttrs `json:"attrs"`
	// Bound tells whether a bind of Rcap with Attrs succeeded.
	Bound bool `json:"bound"`
	// Next is a new rcap acquired to move the sliver onto, written before
	// the move's bind so that a crash cannot leak it. Earlier versions
	// changed resources so; a state file they left is settled at start
	// (finishMove). Changes now amend Rcap in place.
	Next      api.Rcap  `json:"next,omitempty"`
	NextRspec api.Rspec `json:"next_rspec,omitzero"`
}

// rcapState is the content of rcapsFile.
type rcapState struct {
	Slices map[string]*held `json:"slices"`
	// Orphans are rcaps to release that a release has not freed yet.
	Orphans []api.Rcap `json:"orphans,omitempty"`
	// Acquiring is an acquire under way (or cut short by a crash).
	Acquiring *acquiring `json:"acquiring,omitempty"`
}

// loadState reads the last list and the rcaps held; missing files are an
// empty state (a first start).
func loadState(dir string) (api.Slivers, rcapState, error) {
	list := api.Slivers{Version: -1}
	st := rcapState{Slices: map[string]*held{}}
	if err := readJSON(filepath.Join(dir, listFile), &list); err != nil {
		return list, st, err
	}
	if err := readJSON(filepath.Join(dir, rcapsFile), &st); err != nil {
		return list, st, err
	}
	if st.Slices == nil {
		st.Slices = map[string]*held{}
	}
	return list, st, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read state %s: %w", path, err)
	}
	return nil
}

// writeJSON replaces dir/name with v, crash-safely: after a crash the file
// is either the old one or the new one, whole.
func writeJSON(dir, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, name), data, 0o600)
}

package rm

import (
	"path/filepath"

	"github.com/orbisproject/orbis/api"
)

// LastList returns the last sliver list the resource manager kept in dir
// (its StateDir), as central sent it; Version -1 and no slivers if none.
// Other parts of the node read it when they start (e.g. the traffic
// auditor's pages, for the slices' descriptions and users); the lists
// that follow reach them through Options.OnList.
func LastList(dir string) (api.Slivers, error) {
	list := api.Slivers{Version: -1}
	err := readJSON(filepath.Join(dir, listFile), &list)
	return list, err
}

// ListFile is the path of the list LastList reads.
func ListFile(dir string) string { return filepath.Join(dir, listFile) }

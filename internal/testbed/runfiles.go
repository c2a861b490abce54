package testbed

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/internal/node"
)

// sweepRunFiles removes what the prefix's node agents left under
// /run/orbis when they were killed (their lock files and their slivers'
// run directories); agents that stop normally remove both themselves.
func (c *Config) sweepRunFiles() error {
	parents := map[string]bool{}
	locks, _ := filepath.Glob(filepath.Join(node.RunDir, "node-"+c.Prefix+"-n*.lock"))
	for _, l := range locks {
		parents[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "node-"), ".lock")] = true
	}
	dirs, _ := filepath.Glob(filepath.Join(node.RunDir, c.Prefix+"-n*"))
	for _, d := range dirs {
		parents[filepath.Base(d)] = true
	}
	var errs []error
	for p := range parents {
		if _, ok := ownedName(p, c.Prefix+"-n"); !ok {
			continue
		}
		_, err := node.RemoveStaleRunFiles(p)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

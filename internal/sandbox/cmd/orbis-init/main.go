// Command orbis-init is a sliver's init: pid 1 of every running sliver
// (package sandbox, initMain). It is a static program of its own, holding
// only the sandbox's code, so that a running sliver maps a few megabytes
// of it instead of the whole orbis binary. The node loads it into one
// sealed memfd that every init of the node runs from (nobody can write or
// replace it); it is never run from its file, and never by hand.
package main

import (
	"fmt"
	"os"

	"github.com/orbisproject/orbis/internal/reexec"
	_ "github.com/orbisproject/orbis/internal/sandbox" // registers the init's entry point
)

func main() {
	if !reexec.Init() {
		fmt.Fprintln(os.Stderr, "orbis-init is a sliver's init: only the node starts it")
		os.Exit(2)
	}
}

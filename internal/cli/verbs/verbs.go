// Package verbs is the command line of the daemons and of the root-only
// node verbs: `orbis central`, `node`, `sliver`, `ports`, `admin`, `dev`,
// `testbed`, `install` and `uninstall`, with their flags, help and
// output. It imports the daemons, which export a Config and a Run and
// know nothing of the command line; package cli, which talks to central
// only through its JSON API, knows nothing of them.
package verbs

import "github.com/orbisproject/orbis/internal/cli"

// Register adds the daemons' verbs to the command line.
func Register() {
	cli.Register(&cli.Command{Name: "central", Summary: "run central (PLC): PLCAPI, the JSON API and the nodes' channel", Run: runCentral})
}

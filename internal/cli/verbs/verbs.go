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
	cli.Register(&cli.Command{Name: "node", Summary: "run the node agent (root)", Run: runNode})
	cli.Register(&cli.Command{Name: "sliver", Summary: "run a command in a sliver on this node (root)", Run: runSliver})
	cli.Register(&cli.Command{Name: "ports", Summary: "show who owns which port on this node (root)", Run: runPorts})
	cli.Register(&cli.Command{Name: "admin", Summary: "the admin service's action log on this node (root)", Run: runAdmin})
	cli.Register(&cli.Command{Name: "central", Summary: "run central (PLC): PLCAPI, the JSON API and the nodes' channel", Run: runCentral})
	cli.Register(&cli.Command{Name: "dev", Summary: "run central and a node on this machine, ready to use (root)", Run: runDev})
	cli.Register(&cli.Command{Name: "testbed", Summary: "several nodes on this machine in network namespaces (up|status|down) (root)", Run: runTestbed})
	cli.Register(&cli.Command{Name: "install", Summary: "install central or the node agent as a systemd service (root)", Run: runInstall})
	cli.Register(&cli.Command{Name: "uninstall", Summary: "remove central's or the node agent's systemd service (root)", Run: runUninstall})
}

// Command orbis-admin is the site administrator's tool in an admin slice's
// sliver (a slice with Privileges.Admin): it calls the node's admin
// service at /run/orbis-admin/admin.sock.
//
//	orbis-admin ps [--json]                  the processes of every sliver
//	orbis-admin kill [--start T] PID [SIG]   signal one (default TERM)
//	orbis-admin bwcap [RATE]                 show or set the node's cap
//	orbis-admin watch [--pcap] [-c N] [FILTER...]
//	                                         the node's outgoing traffic
//
// Like ping-orbis it is a static program of its own, not part of the orbis
// binary: the image builder installs it in reference images as
// /usr/bin/orbis-admin. `orbis-admin watch --pcap | tcpdump -n -r -`
// reads the traffic with tcpdump; the packets carry their headers only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/orbisproject/orbis/api"
)

const usage = `usage: orbis-admin [--socket PATH] COMMAND
  ps [--json]                   list the processes of every sliver
  kill [--start TICKS] PID [SIG] send SIG (default TERM) to a process; with
                                --start (ps --json's start_ticks), only if
                                PID is still that process
  bwcap [RATE]                  show, or set (e.g. 10mbit), the node's cap
                                on its total outgoing rate
  watch [--pcap] [-c N] [FILTER] the node's outgoing packets, one a line (or
                                pcap: orbis-admin watch --pcap | tcpdump -r -);
                                FILTER e.g. "tcp and dst port 80",
                                "slice pl_foo", "not node", "host 10.0.0.1"
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("orbis-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", api.AdminSocket, "the admin service's socket")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := api.NewAdminClient(*socket)
	cmds := map[string]func(context.Context, *api.AdminClient, []string, io.Writer, io.Writer) error{
		"ps": ps, "kill": kill, "bwcap": bwcap, "watch": watch,
	}
	cmd, ok := cmds[fs.Arg(0)]
	if !ok {
		fs.Usage()
		return 2
	}
	err := cmd(ctx, c, fs.Args()[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "orbis-admin: %v\n%s", err, usage)
		return 2
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		fmt.Fprintf(stderr, "orbis-admin: %v\n(no admin service here: is this a sliver of a slice with the admin privilege?)\n", err)
		return 1
	}
	fmt.Fprintln(stderr, "orbis-admin:", err)
	return 1
}

// usageError is a mistake on the command line.
type usageError string

func (e usageError) Error() string { return string(e) }

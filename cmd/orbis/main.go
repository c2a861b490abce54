// Command orbis is the single Orbis binary: the CLI, the central service, the
// node agent, and the hidden entry points it re-executes itself into.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/cli/verbs"
	"github.com/orbisproject/orbis/internal/reexec"
)

func main() {
	if reexec.Init() {
		return
	}
	verbs.Register()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code, print := cli.ExitCode(err)
		if print {
			fmt.Fprintln(os.Stderr, "orbis:", err)
		}
		os.Exit(code)
	}
}

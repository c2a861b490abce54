package cli

import (
	"context"
	"fmt"
	"runtime"
)

// Version is this build's version: `make build` sets it at link time
// (-ldflags "-X github.com/orbisproject/orbis/internal/cli.Version=...");
// a plain `go build` says "dev".
var Version = "dev"

func init() {
	register(&Command{Name: "version", Summary: "print this binary's version", Run: func(_ context.Context, env *Env, args []string) error {
		if len(args) > 0 {
			return &UsageError{Msg: "usage: orbis version"}
		}
		_, err := fmt.Fprintf(env.Stdout, "orbis %s (%s %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	}})
}

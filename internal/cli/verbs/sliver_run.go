package verbs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
)

// makeSliver is the first half of `orbis sliver run`: what a script would
// do with `orbis nm acquire` and `orbis nm bind`, in this one process. It
// acquires an rcap for rspec (JSON, as `orbis nm acquire` takes it) from
// the node manager at socket, and binds it to the slice name, which makes
// its sliver. The rcap, which the caller needs to release the sliver, is
// printed on standard error as {"rcap": ...}. If the bind fails, the rcap
// is released.
func makeSliver(ctx context.Context, env *cli.Env, socket, name, rspec string) error {
	var rs api.Rspec
	if err := json.Unmarshal([]byte(rspec), &rs); err != nil {
		return &cli.UsageError{Msg: fmt.Sprintf("orbis sliver run: --rspec: %v", err)}
	}
	rc, err := cli.CreateSliver(ctx, api.NewNMClient(socket), name, rs, api.BindAttrs{})
	if err != nil {
		return err
	}
	out, _ := json.Marshal(api.AcquireResponse{Rcap: rc})
	fmt.Fprintf(env.Stderr, "%s\n", out)
	return nil
}

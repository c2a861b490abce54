package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/orbisproject/orbis/api"
)

// CreateSliver is `orbis nm acquire` and `orbis nm bind` in one process,
// what a script does to make a sliver: it acquires an rcap for rs (with
// privileges.create_sliver added) from the node manager c and binds it to
// slice with attrs, which makes and starts the sliver. If the bind fails,
// the rcap is released. The rcap is the caller's to release the sliver.
func CreateSliver(ctx context.Context, c *api.NMClient, slice string, rs api.Rspec, attrs api.BindAttrs) (api.Rcap, error) {
	rs.Privileges.CreateSliver = true
	rc, err := c.Acquire(ctx, rs)
	if err != nil {
		return "", fmt.Errorf("acquire: %w", err)
	}
	if err := c.Bind(ctx, slice, rc, attrs); err != nil {
		if rerr := c.Release(context.WithoutCancel(ctx), rc); rerr != nil {
			return "", fmt.Errorf("bind: %w (and release: %v)", err, rerr)
		}
		return "", fmt.Errorf("bind: %w", err)
	}
	return rc, nil
}

// createRequest is the input of `orbis nm create`.
type createRequest struct {
	Slice string        `json:"slice"`
	Rspec api.Rspec     `json:"rspec"`
	Attrs api.BindAttrs `json:"attrs"`
}

// nmCreate is `orbis nm create {"slice", "rspec", "attrs"}`: CreateSliver,
// printing {"rcap": ...} as `orbis nm acquire` does.
func nmCreate(ctx context.Context, env *Env, c *api.NMClient, body []byte) error {
	var req createRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return &UsageError{Msg: fmt.Sprintf("orbis nm create: %v\n%s", err, nmUsage)}
	}
	if req.Slice == "" {
		return &UsageError{Msg: "orbis nm create: no slice\n" + nmUsage}
	}
	rc, err := CreateSliver(ctx, c, req.Slice, req.Rspec, req.Attrs)
	if err != nil {
		return err
	}
	return writeRcap(env.Stdout, rc)
}

// writeRcap prints rc as {"rcap": ...}.
func writeRcap(w io.Writer, rc api.Rcap) error {
	out, err := json.MarshalIndent(api.AcquireResponse{Rcap: rc}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

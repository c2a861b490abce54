package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/manifest"
)

// slicePushSub is `orbis slice push SLICE DIR|ARCHIVE [--dest PATH]`.
var slicePushSub = &centralSub{
	name: "push", usage: "push SLICE DIR|ARCHIVE [--dest PATH] [--wait 5m]", minArgs: 2, maxArgs: 2,
	setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		dest := fs.String("dest", "", "where the tree goes in each sliver (default /opt/SLICE)")
		wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the nodes (0: do not wait)")
		return func(ctx context.Context, c *centralCall) error { return slicePush(ctx, c, *dest, *wait) }
	},
}

// pushWaitPeriod is how long one status call of `orbis slice push` waits
// at central for every node to finish: central answers the moment the
// last node reports, and the progress shown is refreshed at least this
// often.
var pushWaitPeriod = 500 * time.Millisecond

// pushPollInterval is the least time between two status calls that
// found nodes still busy (a central that does not wait answers at once).
var pushPollInterval = 100 * time.Millisecond

// slicePush uploads what central lacks of the tree, sets it as the
// slice's software, and follows every node until it installed it or
// failed.
func slicePush(ctx context.Context, c *centralCall, dest string, wait time.Duration) error {
	start := time.Now()
	slice, src := c.args[0], c.args[1]
	tree, err := manifest.Open(src)
	if err != nil {
		return err
	}
	data := tree.Manifest.Encode()
	hashes, sizes := tree.Manifest.Blobs()
	missing, err := c.client.SoftwareMissing(ctx, slice, hashes)
	if err != nil {
		return err
	}
	var uploaded int64
	if len(missing) > 0 {
		need := map[string]bool{}
		for _, h := range missing {
			need[h] = true
			uploaded += sizes[h]
		}
		fmt.Fprintf(c.env.Stdout, "uploading %d of %d blob(s), %s\n", len(missing), len(hashes), byteSize(uploaded))
		_, _, err = c.client.SoftwareUpload(ctx, slice, func(w io.Writer) error {
			return tree.EachBlob(need, func(h string, size int64, r io.Reader) error {
				return api.WriteBlobFrame(w, h, size, r)
			})
		})
		if err != nil {
			return err
		}
	}
	res, err := c.client.SoftwareSetManifest(ctx, slice, dest, data)
	if err != nil {
		return err
	}
	what := "unchanged"
	if res.Changed {
		what = "new"
	}
	fmt.Fprintf(c.env.Stdout, "slice %s: manifest %s (%s) to %s on %d node(s)\n", slice, res.Manifest[:12], what, res.Dest, len(res.NodeIDs))
	if wait <= 0 || len(res.NodeIDs) == 0 {
		return nil
	}
	w := &pushWatch{client: c.client, slice: slice, res: res, out: c.env.Stdout, tty: isTerminal(c.env.Stdout), hosts: map[int64]string{}}
	if hosts, err := nodeHostnames(ctx, c.client, res.NodeIDs); err == nil {
		w.hosts = hosts // else rows show "node ID" until the nodes report
	}
	err = w.run(ctx, wait)
	fmt.Fprintf(c.env.Stdout, "%d node(s), %d installed, %d failed; uploaded %s, nodes fetched %s; %.2f s\n",
		len(res.NodeIDs), w.installed, w.failed, byteSize(uploaded), byteSize(w.fetched), time.Since(start).Seconds())
	return err
}

// pushWatch shows one line per node with its progress.
type pushWatch struct {
	client *api.CentralClient
	slice  string
	res    api.SoftwarePushResult
	out    io.Writer
	tty    bool
	hosts  map[int64]string

	shown             []string
	installed, failed int
	fetched           int64
}

// pushRow is one node's state for the current manifest.
type pushRow struct {
	host string
	rep  *api.SoftwareNode // nil: no report on this manifest yet
}

func (r pushRow) done() bool {
	return r.rep != nil && (r.rep.State == api.SoftwareInstalled || r.rep.State == api.SoftwareFailed)
}

func (w *pushWatch) run(ctx context.Context, wait time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var rows []pushRow
	for {
		asked := time.Now()
		st, err := w.client.SoftwareStatusWait(pctx, w.slice, pushWaitPeriod)
		var unreachable *api.UnreachableError
		switch {
		case err == nil:
			rows = w.rows(st)
			w.draw(rows, st.PushedAt)
		case errors.As(err, &unreachable) && pctx.Err() == nil:
		case pctx.Err() == nil:
			return err
		}
		if rows != nil && allPushed(rows) || pctx.Err() != nil {
			break
		}
		select {
		case <-pctx.Done():
		case <-time.After(pushPollInterval - time.Since(asked)):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return w.verdict(rows, wait)
}

// rows matches the reports about this manifest to the slice's nodes.
func (w *pushWatch) rows(st api.SoftwareStatus) []pushRow {
	ids := w.res.NodeIDs
	rows := make([]pushRow, len(ids))
	for i, id := range ids {
		rows[i].host = w.hosts[id]
		if rows[i].host == "" {
			rows[i].host = fmt.Sprintf("node %d", id)
		}
		for j := range st.Nodes {
			n := &st.Nodes[j]
			if n.NodeID != id {
				continue
			}
			if n.Hostname != "" {
				rows[i].host = n.Hostname
			}
			if n.Manifest == w.res.Manifest {
				rows[i].rep = n
			}
		}
	}
	return rows
}

func allPushed(rows []pushRow) bool {
	for _, r := range rows {
		if !r.done() {
			return false
		}
	}
	return true
}

func (w *pushWatch) line(r pushRow, width int, pushedAt int64) string {
	state, blobs, fetched, took := "waiting for the node", "", "", ""
	if r.rep != nil {
		state = r.rep.State
		if r.rep.State == api.SoftwareFetching || r.rep.BlobsTotal > 0 {
			blobs = fmt.Sprintf("%d/%d", r.rep.BlobsDone, r.rep.BlobsTotal)
		}
		if r.rep.HookExit != nil {
			state += fmt.Sprintf(" (hook exit %d)", *r.rep.HookExit)
		}
		if r.rep.Reason != "" {
			state += ": " + firstLine(r.rep.Reason)
		}
		fetched = byteSize(r.rep.BytesFetched)
		if pushedAt > 0 && r.done() && r.rep.Updated >= pushedAt {
			took = fmt.Sprintf("%.2fs", float64(r.rep.Updated-pushedAt)/1000)
		}
	}
	return fmt.Sprintf("%-*s  %-9s  %10s  %7s  %s", width, r.host, blobs, fetched, took, state)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// draw shows the rows: on a terminal, redrawn in place; otherwise one
// line for each change.
func (w *pushWatch) draw(rows []pushRow, pushedAt int64) {
	width := len("NODE")
	for _, r := range rows {
		width = max(width, len(r.host))
	}
	first := w.shown == nil
	if first {
		fmt.Fprintf(w.out, "%-*s  %-9s  %10s  %7s  %s\n", width, "NODE", "BLOBS", "FETCHED", "TIME", "STATE")
	}
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = w.line(r, width, pushedAt)
	}
	redraw(w.out, w.tty, &w.shown, lines, func(i int) bool { return rows[i].rep != nil || first })
	w.installed, w.failed, w.fetched = 0, 0, 0
	for _, r := range rows {
		if r.rep == nil {
			continue
		}
		w.fetched += r.rep.BytesFetched
		switch r.rep.State {
		case api.SoftwareInstalled:
			w.installed++
		case api.SoftwareFailed:
			w.failed++
		}
	}
}

// verdict is nil if every node installed the manifest, or an error
// naming each that did not and why.
func (w *pushWatch) verdict(rows []pushRow, wait time.Duration) error {
	var bad []string
	for _, r := range rows {
		switch {
		case r.rep != nil && r.rep.State == api.SoftwareInstalled:
		case r.rep != nil && r.rep.State == api.SoftwareFailed:
			bad = append(bad, fmt.Sprintf("%s: %s", r.host, r.rep.Reason))
		case r.rep != nil:
			bad = append(bad, fmt.Sprintf("%s: still %s after %s", r.host, r.rep.State, wait))
		default:
			bad = append(bad, fmt.Sprintf("%s: no report after %s (is the node up, and the sliver created?)", r.host, wait))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("slice %s: manifest %s not installed on %d of %d node(s):\n  %s",
		w.slice, w.res.Manifest[:12], len(bad), len(rows), strings.Join(bad, "\n  "))
}

// byteSize prints n bytes for a person.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

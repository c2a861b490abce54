package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/orbisproject/orbis/api"
)

// sliverPollInterval is how often `orbis slice add-nodes` asks central for
// the nodes' reports.
var sliverPollInterval = 200 * time.Millisecond

// sliceAddNodes adds a slice to nodes, then follows the nodes' reports
// until every sliver runs or fails, or wait passes (0: no waiting).
func sliceAddNodes(ctx context.Context, c *centralCall, wait time.Duration) error {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return err
	}
	nodes, err := findNodes(ctx, c.client, c.args[1:])
	if err != nil {
		return err
	}
	filter := map[string]any{"name": s.Name}
	before, err := c.client.GetSliverReports(ctx, filter)
	if err != nil {
		return err
	}
	if err := c.client.AddSliceToNodes(ctx, s.SliceID, nodeIDs(nodes)); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "added slice %s to %d node(s)\n", s.Name, len(nodes))
	if wait <= 0 {
		return nil
	}
	if s.Instantiation != "" && s.Instantiation != "plc-instantiated" {
		fmt.Fprintf(c.env.Stdout, "slice %s is %s: nodes create no sliver for it until its broker does\n", s.Name, s.Instantiation)
		return nil
	}
	w := &sliverWatch{
		client: c.client, filter: filter, slice: s.Name, nodes: nodes, stale: staleFailures(before),
		out: c.env.Stdout, tty: isTerminal(c.env.Stdout), timeout: wait,
	}
	return w.run(ctx)
}

// staleFailures are the failed reports from before a change: a node's
// failure counts only once it reports again.
func staleFailures(reports []api.SliverReportRow) map[int64]int64 {
	m := map[int64]int64{}
	for _, r := range reports {
		if r.State == api.SliverFailed {
			m[r.NodeID] = r.Updated
		}
	}
	return m
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// sliverWatch shows one line per node with its sliver's state.
type sliverWatch struct {
	client  *api.CentralClient
	filter  any
	slice   string
	nodes   []api.Node
	stale   map[int64]int64
	out     io.Writer
	tty     bool
	timeout time.Duration

	shown []string // the line last shown for each node
}

// sliverState is one node's sliver as its reports tell.
type sliverState struct {
	report *api.SliverReportRow // nil: no (fresh) report yet
}

func (s sliverState) done() bool {
	return s.up() || s.report != nil && s.report.State == api.SliverFailed
}

// up reports whether the sliver started: it runs, or it ran its boot
// script and has no process left (idle), which is as healthy.
func (s sliverState) up() bool {
	return s.report != nil && (s.report.State == api.SliverRunning || s.report.State == api.SliverIdle)
}

func (s sliverState) text() string {
	switch {
	case s.report == nil:
		return "waiting for the node"
	case s.report.Reason != "":
		return string(s.report.State) + ": " + s.report.Reason
	}
	return string(s.report.State)
}

func (w *sliverWatch) run(ctx context.Context) error {
	pollCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	tick := time.NewTicker(sliverPollInterval)
	defer tick.Stop()
	states := make([]sliverState, len(w.nodes))
	var pollErr error
	for {
		reports, err := w.client.GetSliverReports(pollCtx, w.filter)
		var unreachable *api.UnreachableError
		switch {
		case err == nil:
			states, pollErr = w.states(reports), nil
		case errors.As(err, &unreachable):
			pollErr = err // keep trying until the timeout
		case pollCtx.Err() == nil:
			return err
		}
		w.draw(states)
		if allDone(states) || pollCtx.Err() != nil {
			break
		}
		select {
		case <-pollCtx.Done():
		case <-tick.C:
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return w.verdict(ctx, states, pollErr)
}

// states matches the reports to the nodes, ignoring failures from before.
func (w *sliverWatch) states(reports []api.SliverReportRow) []sliverState {
	out := make([]sliverState, len(w.nodes))
	for i, n := range w.nodes {
		for _, r := range reports {
			if r.NodeID != n.NodeID || r.Name != w.slice {
				continue
			}
			if at, ok := w.stale[n.NodeID]; ok && r.State == api.SliverFailed && r.Updated <= at {
				continue
			}
			out[i].report = &r
		}
	}
	return out
}

func allDone(states []sliverState) bool {
	for _, s := range states {
		if !s.done() {
			return false
		}
	}
	return true
}

// draw shows the states: on a terminal, redrawn in place; otherwise one
// line for each change (not for the initial wait).
func (w *sliverWatch) draw(states []sliverState) {
	width := 0
	for _, n := range w.nodes {
		width = max(width, len(n.Hostname))
	}
	lines := make([]string, len(w.nodes))
	for i, n := range w.nodes {
		lines[i] = fmt.Sprintf("%-*s  %s", width, n.Hostname, states[i].text())
	}
	redraw(w.out, w.tty, &w.shown, lines, func(i int) bool { return states[i].report != nil })
}

// redraw shows lines, one a node, over *shown, the lines last shown (nil
// before the first call): on a terminal the block is redrawn in place if
// any line changed; otherwise each changed line i is printed if logged(i).
func redraw(out io.Writer, tty bool, shown *[]string, lines []string, logged func(i int) bool) {
	first := *shown == nil
	if first {
		*shown = make([]string, len(lines))
	}
	changed := false
	for i, l := range lines {
		if l != (*shown)[i] {
			changed = true
			if !tty && logged(i) {
				fmt.Fprintln(out, l)
			}
		}
	}
	if tty && changed {
		if !first {
			fmt.Fprintf(out, "\x1b[%dA", len(lines))
		}
		for _, l := range lines {
			fmt.Fprintf(out, "\r\x1b[2K%s\n", l)
		}
	}
	copy(*shown, lines)
}

// verdict is nil if every sliver runs, or an error naming each that does
// not and why.
func (w *sliverWatch) verdict(ctx context.Context, states []sliverState, pollErr error) error {
	var bad []string
	for i, n := range w.nodes {
		s := states[i]
		switch {
		case s.up():
			continue
		case s.done():
			bad = append(bad, fmt.Sprintf("%s: %s", n.Hostname, s.text()))
		case s.report != nil:
			bad = append(bad, fmt.Sprintf("%s: still %s after %s", n.Hostname, s.text(), w.timeout))
		default:
			bad = append(bad, fmt.Sprintf("%s: no report after %s (%s)", n.Hostname, w.timeout, w.lastContact(ctx, n)))
		}
	}
	if len(bad) == 0 {
		fmt.Fprintf(w.out, "slice %s is running on %d node(s)\n", w.slice, len(w.nodes))
		return nil
	}
	msg := fmt.Sprintf("slice %s is not running on %d of %d node(s):\n  %s", w.slice, len(bad), len(w.nodes), strings.Join(bad, "\n  "))
	if pollErr != nil {
		msg += "\nlast error: " + pollErr.Error()
	}
	return errors.New(msg)
}

// lastContact says when the node last called central, from a fresh look.
func (w *sliverWatch) lastContact(ctx context.Context, n api.Node) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if fresh, err := w.client.GetNodes(ctx, n.NodeID, "node_id", "last_contact"); err == nil && len(fresh) == 1 {
		n.LastContact = fresh[0].LastContact
	}
	if n.LastContact == 0 {
		return "the node has never contacted central: is it registered and running?"
	}
	return "the node last contacted central " + formatAgo(n.LastContact, time.Now())
}

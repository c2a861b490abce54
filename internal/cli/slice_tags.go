package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Slice tags: `orbis slice tag|tags|untag`. A tag is global (every node
// of the slice) or on one node, where it overrides the global one of its
// name; central decides who may set which (resource tags are admins').

// sliceTagUsage follows "orbis slice ".
const sliceTagUsage = "tag SLICE NAME (VALUE | --value-file FILE|-) [--node HOSTNAME]"

var sliceTagSub = &centralSub{
	name: "tag", usage: sliceTagUsage, minArgs: 2, maxArgs: 3,
	setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		node := fs.String("node", "", "set the tag on this node only (default: on every node of the slice)")
		file := fs.String("value-file", "", "read the value from FILE (- for standard input) instead of VALUE, e.g. an initscript")
		return func(ctx context.Context, c *centralCall) error {
			value, err := tagValueArg(c, *file)
			if err != nil {
				return err
			}
			return sliceTag(ctx, c, *node, value)
		}
	},
}

var sliceTagsSub = &centralSub{
	name: "tags", usage: "tags SLICE [--json]", minArgs: 1, maxArgs: 1,
	setup: func(*flag.FlagSet) func(context.Context, *centralCall) error { return sliceTags },
}

var sliceUntagSub = &centralSub{
	name: "untag", usage: "untag SLICE NAME [--node HOSTNAME]", minArgs: 2, maxArgs: 2,
	setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		node := fs.String("node", "", "remove the tag set on this node (default: the one on every node)")
		return func(ctx context.Context, c *centralCall) error { return sliceUntag(ctx, c, *node) }
	},
}

// maxTagFile bounds what --value-file reads; central refuses values over
// 64 KiB with a clear message.
const maxTagFile = 1 << 20

// tagValueWidth is how much of a value a table shows.
const tagValueWidth = 48

// tagValueArg is the value to set: the third argument, or --value-file's
// content without its final newlines.
func tagValueArg(c *centralCall, file string) (string, error) {
	usage := "usage: orbis slice " + sliceTagUsage
	switch {
	case file == "" && len(c.args) == 3:
		return c.args[2], nil
	case file == "" || len(c.args) == 3:
		return "", &UsageError{Msg: "orbis slice tag: give the value as VALUE or with --value-file, not both nor neither\n" + usage}
	}
	var r io.Reader = c.env.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("read tag value: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxTagFile))
	if err != nil {
		return "", fmt.Errorf("read tag value: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// tagTarget is a slice and where on it a tag applies.
type tagTarget struct {
	slice  *api.Slice
	nodeID int64  // 0: every node
	where  string // "all nodes" or the node's hostname
}

// findTagTarget resolves the slice (c.args[0]) and the node, if any.
func findTagTarget(ctx context.Context, c *centralCall, node string) (*tagTarget, error) {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return nil, err
	}
	tt := &tagTarget{slice: s, where: "all nodes"}
	if node != "" {
		ns, err := findNodes(ctx, c.client, []string{node})
		if err != nil {
			return nil, err
		}
		tt.nodeID, tt.where = ns[0].NodeID, ns[0].Hostname
	}
	return tt, nil
}

// nodeArg is the target's node as AddSliceTag takes it.
func (tt *tagTarget) nodeArg() any {
	if tt.nodeID == 0 {
		return nil
	}
	return tt.nodeID
}

// tags returns the slice's tags named name, oldest first: those at the
// target's scope, and the others (on other nodes, or global).
func (tt *tagTarget) tags(ctx context.Context, cc *api.CentralClient, name string) (here, elsewhere []api.SliceTag, err error) {
	all, err := cc.GetSliceTags(ctx, map[string]any{"slice_id": tt.slice.SliceID, "tagname": name})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].SliceTagID < all[j].SliceTagID })
	for _, t := range all {
		if t.NodeID == tt.nodeID {
			here = append(here, t)
		} else {
			elsewhere = append(elsewhere, t)
		}
	}
	return here, elsewhere, nil
}

// sliceTag adds the tag, or changes the value of the one the slice has
// there already (the last if several were stacked: it is the one that
// counts), so that tagging again does not stack another.
func sliceTag(ctx context.Context, c *centralCall, node, value string) error {
	name := c.args[1]
	tt, err := findTagTarget(ctx, c, node)
	if err != nil {
		return err
	}
	here, _, err := tt.tags(ctx, c.client, name)
	if err != nil {
		return err
	}
	if len(here) == 0 {
		id, err := c.client.AddSliceTag(ctx, tt.slice.SliceID, name, value, tt.nodeArg())
		if err != nil {
			return err
		}
		return tagDone(c, id, "added", fmt.Sprintf("added tag %s = %s to slice %s on %s (id %d)\n", name, quoteValue(value), tt.slice.Name, tt.where, id))
	}
	last := here[len(here)-1]
	if err := c.client.UpdateSliceTag(ctx, last.SliceTagID, value); err != nil {
		return err
	}
	msg := fmt.Sprintf("changed tag %s of slice %s on %s (id %d): %s -> %s\n", name, tt.slice.Name, tt.where, last.SliceTagID, quoteValue(last.Value), quoteValue(value))
	if n := len(here) - 1; n > 0 {
		msg += fmt.Sprintf("note: %d older %s tag(s) stay on %s, overridden by this one; `orbis slice untag` removes them all\n", n, name, tt.where)
	}
	return tagDone(c, last.SliceTagID, "changed", msg)
}

func tagDone(c *centralCall, id int64, action, msg string) error {
	if c.json {
		return writeJSON(c.env.Stdout, map[string]any{"slice_tag_id": id, "action": action})
	}
	_, err := io.WriteString(c.env.Stdout, msg)
	return err
}

// sliceTags prints a slice's tags by name, global before per-node.
func sliceTags(ctx context.Context, c *centralCall) error {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return err
	}
	tags, err := c.client.GetSliceTags(ctx, map[string]any{"slice_id": s.SliceID})
	if err != nil {
		return err
	}
	sort.Slice(tags, func(i, j int) bool {
		a, b := tags[i], tags[j]
		if a.TagName != b.TagName {
			return a.TagName < b.TagName
		}
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.SliceTagID < b.SliceTagID
	})
	if c.json {
		return writeJSON(c.env.Stdout, tags)
	}
	return printTags(ctx, c, tags)
}

func printTags(ctx context.Context, c *centralCall, tags []api.SliceTag) error {
	var ids []int64
	for _, t := range tags {
		if t.NodeID != 0 {
			ids = append(ids, t.NodeID)
		}
	}
	hosts, err := nodeHostnames(ctx, c.client, ids)
	if err != nil {
		return err
	}
	rows := make([][]string, len(tags))
	for i, t := range tags {
		node := "all"
		if t.NodeID != 0 {
			node = firstOf(hosts[t.NodeID], strconv.FormatInt(t.NodeID, 10))
		}
		rows[i] = []string{strconv.FormatInt(t.SliceTagID, 10), t.TagName, orDash(oneLine(t.Value, tagValueWidth)), node}
	}
	return writeTable(c.env.Stdout, []string{"ID", "NAME", "VALUE", "NODE"}, rows)
}

// sliceUntag deletes the slice's tags of that name at that scope.
func sliceUntag(ctx context.Context, c *centralCall, node string) error {
	name := c.args[1]
	tt, err := findTagTarget(ctx, c, node)
	if err != nil {
		return err
	}
	here, elsewhere, err := tt.tags(ctx, c.client, name)
	if err != nil {
		return err
	}
	if len(here) == 0 {
		return noTagError(ctx, c.client, tt, name, elsewhere)
	}
	for _, t := range here {
		if err := c.client.DeleteSliceTag(ctx, t.SliceTagID); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "removed tag %s = %s (id %d) from slice %s on %s\n", name, quoteValue(t.Value), t.SliceTagID, tt.slice.Name, tt.where)
	}
	return nil
}

// noTagError says the slice lacks the tag there, and where it has it.
func noTagError(ctx context.Context, cc *api.CentralClient, tt *tagTarget, name string, elsewhere []api.SliceTag) error {
	msg := fmt.Sprintf("slice %s has no tag %s on %s", tt.slice.Name, name, tt.where)
	if len(elsewhere) == 0 {
		return fmt.Errorf("%s (see `orbis slice tags %s`)", msg, tt.slice.Name)
	}
	ids := make([]int64, len(elsewhere))
	for i, t := range elsewhere {
		ids[i] = t.NodeID
	}
	hosts, err := nodeHostnames(ctx, cc, ids)
	if err != nil {
		return err
	}
	var at []string
	for _, t := range elsewhere {
		if t.NodeID == 0 {
			at = append(at, "all nodes (leave out --node)")
		} else {
			at = append(at, "--node "+firstOf(hosts[t.NodeID], strconv.FormatInt(t.NodeID, 10)))
		}
	}
	return fmt.Errorf("%s; it has one on %s", msg, strings.Join(at, ", "))
}

// oneLine shows a value on one line of at most n characters, ending in
// "…" where it was cut (a long value, or one of several lines).
func oneLine(s string, n int) string {
	s = strings.TrimLeft(s, " \t\r\n")
	first, rest, _ := strings.Cut(s, "\n")
	first = strings.ReplaceAll(strings.TrimRight(first, "\r"), "\t", " ")
	if r := []rune(first); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if strings.TrimSpace(rest) != "" {
		return first + "…"
	}
	return first
}

// quoteValue shows a value in a message: quoted, on one line.
func quoteValue(v string) string {
	return strconv.Quote(oneLine(v, tagValueWidth))
}

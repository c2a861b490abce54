package api

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A nodeField is one field a node expression may name and a sort key.
type nodeField struct {
	name string
	doc  string // said after the name in the help, if not ""
	// summary: the value comes from the node's summary, so a node that
	// sent none sorts after the others.
	summary bool
	num     func(*NodeView) float64 // a number's value; nil for text
	str     func(*NodeView) string  // text's value
}

// nodeFieldTable is the one table of node fields: NodeFields, the help,
// matching and sorting are all read from it. Numbers come first.
var nodeFieldTable = []nodeField{
	{name: "load", summary: true, num: func(v *NodeView) float64 { return v.Summary.Load }},
	{name: "mem_total", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.MemTotal) }},
	{name: "free_mem", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.FreeMem) }},
	{name: "disk_total", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.DiskTotal) }},
	{name: "free_disk", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.FreeDisk) }},
	{name: "slivers", doc: "running", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.Slivers) }},
	{name: "bw_in", doc: "bytes/s", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.BwIn) }},
	{name: "bw_out", doc: "bytes/s", summary: true, num: func(v *NodeView) float64 { return float64(v.Summary.BwOut) }},
	{name: "last_contact", doc: "Unix seconds", num: func(v *NodeView) float64 { return float64(v.Node.LastContact) }},
	{name: "assigned", doc: "slivers central put there", num: func(v *NodeView) float64 { return float64(len(v.Node.SliceIDs)) }},
	{name: "hostname", str: func(v *NodeView) string { return v.Node.Hostname }},
	{name: "site", str: func(v *NodeView) string { return v.Site }},
	{name: "status", str: func(v *NodeView) string { return v.Node.BootState }},
	{name: "agent_version", summary: true, str: func(v *NodeView) string { return v.Summary.AgentVersion }},
}

// NodeFields are the fields a node expression may name, numeric ones
// first; a sort key is one of them.
var NodeFields = func() []string {
	names := make([]string, len(nodeFieldTable))
	for i, f := range nodeFieldTable {
		names[i] = f.name
	}
	return names
}()

// NodeWhereHelp documents the node expression language, for flag help and
// the portal.
var NodeWhereHelp = func() string {
	var text, nums []string
	for _, f := range nodeFieldTable {
		name := f.name
		if f.doc != "" {
			name += " (" + f.doc + ")"
		}
		if f.num == nil {
			text = append(text, name)
		} else {
			nums = append(nums, name)
		}
	}
	return `conditions "field op value" joined by "," or " and ", all of which must hold;
op is one of = != < <= > >=; fields: ` + strings.Join(text, ", ") + ` (text, = and != only),
` + strings.Join(nums, ", ") + `;
numbers take a unit K, M, G or T (powers of 1024, an optional B or iB after it): free_mem>1G`
}()

// lookupNodeField returns the field named name.
func lookupNodeField(name string) (nodeField, bool) {
	i := slices.IndexFunc(nodeFieldTable, func(f nodeField) bool { return f.name == name })
	if i < 0 {
		return nodeField{}, false
	}
	return nodeFieldTable[i], true
}

// NodeView is a node as an expression sees it: central's record, its
// site's login base and its latest summary (zero if none).
type NodeView struct {
	Node    Node
	Site    string
	Summary NodeSummary
}

// Num returns a numeric field's value (0 for any other name).
func (v *NodeView) Num(field string) float64 {
	if f, ok := lookupNodeField(field); ok && f.num != nil {
		return f.num(v)
	}
	return 0
}

// Str returns a text field's value ("" for any other name).
func (v *NodeView) Str(field string) string {
	if f, ok := lookupNodeField(field); ok && f.str != nil {
		return f.str(v)
	}
	return ""
}

// Compare orders a and b by field: numbers ascending, text in byte order;
// by a field of the summary, a node that sent none comes after the others
// (callers that reverse the order keep it last).
func (a *NodeView) Compare(b *NodeView, field string) int {
	f, _ := lookupNodeField(field)
	if f.summary {
		switch x, y := a.Summary.Updated != 0, b.Summary.Updated != 0; {
		case x && !y:
			return -1
		case y && !x:
			return 1
		}
	}
	if f.num != nil {
		return cmp.Compare(f.num(a), f.num(b))
	}
	return strings.Compare(a.Str(field), b.Str(field))
}

func isNumericNodeField(name string) bool {
	f, ok := lookupNodeField(name)
	return ok && f.num != nil
}

// NodeCond is one condition of a node expression.
type NodeCond struct {
	Field, Op string
	Num       float64
	Str       string
}

// NodeWhere is a parsed node expression: every condition must hold.
type NodeWhere []NodeCond

// maxNodeWhere bounds an expression's length.
const maxNodeWhere = 1024

// ParseNodeWhere parses a node expression (NodeWhereHelp); "" selects
// every node.
func ParseNodeWhere(s string) (NodeWhere, error) {
	if len(s) > maxNodeWhere {
		return nil, fmt.Errorf("where: expression longer than %d bytes", maxNodeWhere)
	}
	var w NodeWhere
	for _, part := range strings.Split(strings.ReplaceAll(s, " and ", ","), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		c, err := parseNodeCond(part)
		if err != nil {
			return nil, fmt.Errorf("where %q: %w", part, err)
		}
		w = append(w, c)
	}
	return w, nil
}

func parseNodeCond(s string) (NodeCond, error) {
	i := strings.IndexAny(s, "=!<>")
	if i <= 0 {
		return NodeCond{}, fmt.Errorf("want field op value (such as free_mem>1G)")
	}
	c := NodeCond{Field: strings.TrimSpace(s[:i])}
	rest := s[i:]
	for _, op := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			c.Op, rest = op, strings.TrimSpace(rest[len(op):])
			break
		}
	}
	switch {
	case c.Op == "":
		return c, fmt.Errorf("unknown operator in %q: want = != < <= > >=", rest)
	case !slices.Contains(NodeFields, c.Field):
		return c, fmt.Errorf("unknown field %q: want one of %s", c.Field, strings.Join(NodeFields, ", "))
	case rest == "":
		return c, fmt.Errorf("no value after %s", c.Op)
	case !isNumericNodeField(c.Field):
		if c.Op != "=" && c.Op != "!=" {
			return c, fmt.Errorf("%s is text: compare it with = or != only", c.Field)
		}
		c.Str = rest
		return c, nil
	}
	n, err := parseQuantity(rest)
	c.Num = n
	return c, err
}

// parseQuantity reads a number with an optional unit K, M, G or T (powers
// of 1024) and an optional B or iB.
func parseQuantity(s string) (float64, error) {
	num := strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i")
	mult := 1.0
	if k := len(num); k > 0 {
		if i := strings.IndexByte("KMGT", num[k-1]&^0x20); i >= 0 {
			mult, num = math.Pow(1024, float64(i+1)), num[:k-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %q: want a number with an optional unit K, M, G or T", s)
	}
	return v * mult, nil
}

// Match reports whether v meets every condition.
func (w NodeWhere) Match(v *NodeView) bool {
	for _, c := range w {
		if !c.match(v) {
			return false
		}
	}
	return true
}

func (c NodeCond) match(v *NodeView) bool {
	if !isNumericNodeField(c.Field) {
		return (v.Str(c.Field) == c.Str) == (c.Op == "=")
	}
	x := v.Num(c.Field)
	switch c.Op {
	case "=":
		return x == c.Num
	case "!=":
		return x != c.Num
	case "<":
		return x < c.Num
	case "<=":
		return x <= c.Num
	case ">":
		return x > c.Num
	}
	return x >= c.Num
}

package api

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// NodeWhereHelp documents the node expression language, for flag help and
// the portal.
const NodeWhereHelp = `conditions "field op value" joined by "," or " and ", all of which must hold;
op is one of = != < <= > >=; fields: hostname, site, status, agent_version (text, = and != only),
load, mem_total, free_mem, disk_total, free_disk, slivers (running), bw_in, bw_out (bytes/s),
last_contact (Unix seconds), assigned (slivers central put there);
numbers take a unit K, M, G or T (powers of 1024, an optional B or iB after it): free_mem>1G`

// NodeFields are the fields a node expression may name, numeric ones
// first; a sort key is one of them.
var NodeFields = []string{"load", "mem_total", "free_mem", "disk_total", "free_disk", "slivers", "bw_in", "bw_out",
	"last_contact", "assigned", "hostname", "site", "status", "agent_version"}

// numericNodeFields counts the numeric fields at the start of NodeFields,
// summaryNodeFields those of them from the summary.
const (
	numericNodeFields = 10
	summaryNodeFields = 8
)

// NodeView is a node as an expression sees it: central's record, its
// site's login base and its latest summary (zero if none).
type NodeView struct {
	Node    Node
	Site    string
	Summary NodeSummary
}

// Num returns a numeric field's value.
func (v *NodeView) Num(field string) float64 {
	s := &v.Summary
	switch field {
	case "load":
		return s.Load
	case "mem_total":
		return float64(s.MemTotal)
	case "free_mem":
		return float64(s.FreeMem)
	case "disk_total":
		return float64(s.DiskTotal)
	case "free_disk":
		return float64(s.FreeDisk)
	case "slivers":
		return float64(s.Slivers)
	case "bw_in":
		return float64(s.BwIn)
	case "bw_out":
		return float64(s.BwOut)
	case "last_contact":
		return float64(v.Node.LastContact)
	case "assigned":
		return float64(len(v.Node.SliceIDs))
	}
	return 0
}

// Str returns a text field's value.
func (v *NodeView) Str(field string) string {
	switch field {
	case "hostname":
		return v.Node.Hostname
	case "site":
		return v.Site
	case "status":
		return v.Node.BootState
	case "agent_version":
		return v.Summary.AgentVersion
	}
	return ""
}

// Compare orders a and b by field: numbers ascending, text in byte order;
// by a field of the summary, a node that sent none comes after the others
// (callers that reverse the order keep it last).
func (a *NodeView) Compare(b *NodeView, field string) int {
	if i := slices.Index(NodeFields, field); i < summaryNodeFields || field == "agent_version" {
		switch x, y := a.Summary.Updated != 0, b.Summary.Updated != 0; {
		case x && !y:
			return -1
		case y && !x:
			return 1
		}
	}
	if isNumericNodeField(field) {
		x, y := a.Num(field), b.Num(field)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a.Str(field), b.Str(field))
}

func isNumericNodeField(f string) bool {
	i := slices.Index(NodeFields, f)
	return i >= 0 && i < numericNodeFields
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

package store

// Query selects records of one kind: every condition must hold (AND), then
// the result is sorted, offset and limited. It is the store-neutral form of
// a PLCAPI filter (package plc parses them): the XML-RPC and JSON layers
// parse filters into a Query, and each store turns it into SQL.
type Query struct {
	Conds []Cond
	// Sort names fields to order by; a leading '-' sorts that field
	// descending. Empty means by primary key.
	Sort []string
	// Offset and Limit page the result; Limit 0 means no limit.
	Offset, Limit int
}

// Op compares a field with a value.
type Op int

// The comparisons of a PLCAPI filter.
const (
	Eq      Op = iota // field = value (or IN, if Value is a slice)
	Ne                // field <> value (or NOT IN)
	Lt                // <field
	Gt                // >field
	Le                // [field
	Ge                // ]field
	Like              // value with * or % wildcards
	NotLike           // ~ with wildcards
	Empty             // a list field holds nothing (Value unused)
)

// Cond is one condition on a scalar field, named as in PLCAPI (login_base,
// hostname, name, email...). Value is an int64, float64, string or bool,
// or a []any of them for Eq and Ne. Filtering on a list field
// (person_ids, node_ids...) with Eq means "contains".
type Cond struct {
	Field string
	Op    Op
	Value any
	// Group, if not nil, makes the condition a group of conditions
	// (PLCAPI's -OR, the & and | modifiers, a list holding None): Field,
	// Op and Value are unused then.
	Group *Group
}

// Group is a condition made of others: all of them hold, or with Or any
// of them (none when there are none); Not negates the result.
type Group struct {
	Or, Not bool
	Conds   []Cond
}

// ByID selects one record by its primary key field (e.g. "site_id").
func ByID(field string, id int64) Query {
	return Query{Conds: []Cond{{Field: field, Op: Eq, Value: id}}}
}

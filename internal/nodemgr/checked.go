package nodemgr

import "github.com/orbisproject/orbis/api"

// A checkedRspec is an rspec the node manager's edge checked: the
// resource table's bounds, pairs and lists (api.Validate), what the node
// adds (its capacity, its ports, the time window), with the defaults
// filled in. The records (rcapRecord.Rspec) and the ledger's sums take
// only this type, so an rspec a caller sent cannot reach them unchecked:
// the compiler refuses an api.Rspec there.
//
// checkRspec makes one from a request (acquire, amend, a pool's
// delegation); a split's halves (splitRspec), a returned guarantee
// (returnedRspec) and a regranted pool are made from checked rspecs by
// arithmetic that keeps every value within its parent's. No other code
// makes one (TestCheckedRspecMadeAtEdge); it is stored as the plain rspec
// it holds, and a record read back is the node manager's own, written
// after the check.
type checkedRspec struct {
	api.Rspec
}

// makers are the only functions that may build a checkedRspec
// (TestCheckedRspecMadeAtEdge).
var makers = []string{"checkRspec", "splitRspec", "returnedRspec", "clone"}

// clone copies c deeply enough that the copy shares nothing.
func (c checkedRspec) clone() checkedRspec { return checkedRspec{cloneRspec(c.Rspec)} }

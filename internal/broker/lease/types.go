package lease

import (
	"net/http"

	"github.com/orbisproject/orbis/internal/errkind"
)

// States of a lease.
const (
	// StateReserved is a confirmed lease whose window has not opened.
	StateReserved = "reserved"
	// StateActive is a lease whose sliver is bound.
	StateActive = "active"
	// StateDone is a lease whose window ended and whose rcap is released.
	StateDone = "done"
	// StateCancelled is a lease its holder cancelled.
	StateCancelled = "cancelled"
	// StateFailed is a lease the node manager refused to open.
	StateFailed = "failed"
)

// A Lease is one reservation on one node, as the broker shows it.
type Lease struct {
	ID    string `json:"id"`
	Slice string `json:"slice"`
	// Keys are the SSH public keys the sliver is bound with.
	Keys []string `json:"keys,omitempty"`
	// Start and End bound the window, in Unix seconds, on slot
	// boundaries.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// CPUShares is the lease's part of the delegation's CPU shares.
	CPUShares int64 `json:"cpu_shares"`
	// Whole is a lease of the whole delegation: its slots are its alone.
	Whole   bool   `json:"whole,omitempty"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Created int64  `json:"created"`
}

// ReserveRequest asks for a lease (POST /v1/leases).
type ReserveRequest struct {
	Slice string   `json:"slice"`
	Keys  []string `json:"keys"`
	// Start is the window's first slot (Unix seconds, on a slot boundary);
	// 0 means the current slot.
	Start int64 `json:"start,omitempty"`
	// End is the window's end (on a slot boundary); 0 means Start plus
	// Slots slots.
	End   int64 `json:"end,omitempty"`
	Slots int64 `json:"slots,omitempty"`
	// CPUShares is the part of the delegation's CPU shares asked for
	// (1 if 0); Whole asks for all of the delegation instead.
	CPUShares int64 `json:"cpu_shares,omitempty"`
	Whole     bool  `json:"whole,omitempty"`
	// Token is the slice name's token, given by the first lease of that
	// name; empty for a name with no live lease.
	Token string `json:"token,omitempty"`
}

// ReserveResponse is a confirmed lease: it is in the book on disk.
type ReserveResponse struct {
	Lease Lease `json:"lease"`
	// Token proves the right to the slice name on this broker: keep it
	// to cancel, or to lease the name again while it has live leases.
	Token string `json:"token"`
	// Charged is the lease's cost in share-slots; CreditLeft what the
	// buyer's account has left after it.
	Charged    int64 `json:"charged"`
	CreditLeft int64 `json:"credit_left"`
}

// CancelRequest cancels lease ID (POST /v1/cancel). An active lease's
// sliver is destroyed.
type CancelRequest struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Capacity is what the broker may hand out on this node in every slot:
// the delegation's rspec as the pool rcap carries it.
type Capacity struct {
	Slivers      int64 `json:"slivers"`
	CPUShares    int64 `json:"cpu_shares"`
	CPUGuarantee int64 `json:"cpu_guarantee,omitempty"`
	// Start and End bound the delegation (0: unbounded).
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
}

// Info describes a broker (GET /v1/info).
type Info struct {
	SlotSeconds int64    `json:"slot_seconds"`
	Now         int64    `json:"now"`
	Capacity    Capacity `json:"capacity"`
	// Problem says why the broker has no capacity (no pool rcap, node
	// manager unreachable), if so.
	Problem string `json:"problem,omitempty"`
}

// SlotUse is what one slot holds (GET /v1/schedule).
type SlotUse struct {
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Slivers   int64 `json:"slivers"`
	CPUShares int64 `json:"cpu_shares"`
	Whole     bool  `json:"whole,omitempty"`
}

// Error is the body of every failed call.
type Error struct {
	Error string `json:"error"`
}

// Kinds of failure; every error the Book returns for a request wraps one,
// and the server answers with its HTTP status (errkind.Status). The
// common kinds are errkind's, shared with the node manager; the others
// are the broker's own.
var (
	// ErrInvalid is a malformed request.
	ErrInvalid error = errkind.Invalid
	// ErrDenied is a wrong token.
	ErrDenied error = errkind.Denied
	// ErrUnauthorized is a missing or wrong credential (a buyer's or the
	// operator's).
	ErrUnauthorized error = errkind.New("unauthorized", http.StatusUnauthorized)
	// ErrCredit is a lease its buyer's credit cannot pay for.
	ErrCredit error = errkind.New("credit exhausted", http.StatusPaymentRequired)
	// ErrRefused is a request admission refused.
	ErrRefused error = errkind.Refused
	// ErrNotFound is an unknown lease.
	ErrNotFound error = errkind.NotFound
	// ErrUnavailable is a broker without a delegation.
	ErrUnavailable error = errkind.New("unavailable", http.StatusServiceUnavailable)
)

func errorf(kind error, format string, a ...any) error {
	return errkind.Errorf(kind, format, a...)
}

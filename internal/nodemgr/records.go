package nodemgr

import (
	"strings"

	"github.com/orbisproject/orbis/api"
)

// rcapRecord is one live rcap: its hash, the ID of the rcap it was split
// from, its rspec with defaults filled in, and who owns it.
type rcapRecord struct {
	Hash   rcapHash     `json:"hash"`
	Parent string       `json:"parent,omitempty"`
	Rspec  checkedRspec `json:"rspec"`
	// Owner is the principal that may use the rcap ("central" or
	// "slice:<name>"); load gives records older than owners central.
	Owner string `json:"owner,omitempty"`
	// Account is the broker whose policy share the rcap counts against:
	// the one that acquired it (or its ancestor); a pool counts as
	// central's. Passing the rcap does not change it.
	Account string `json:"account,omitempty"`
	// Maker is the principal that made the rcap: the one that acquired
	// or split it, the broker for its pool. A slice's bound on the rcaps
	// it holds (maxSliceRcaps) counts the rcaps it made, wherever it
	// passed them, so that passing rcaps to a slice cannot fill its room.
	// Passing does not change it; load gives older records their owner.
	Maker string `json:"maker,omitempty"`
	// Secret is the rcap itself, kept only while a slice owns it, so
	// that rcaps can give a slice the rcaps it owns (pools it never saw,
	// rcaps handed to it). Central's rcaps are kept as hashes only.
	Secret api.Rcap `json:"secret,omitempty"`
	// Pool is the hash of the pool rcap this one was split from (or the
	// pool's own): the pool's Rspec.Slivers bounds the slivers bound to
	// all of them together.
	Pool string `json:"pool,omitempty"`
	// PoolOf, for a pool rcap, is the slice whose delegation it holds;
	// Granted is that delegation as central gave it, before defaults and
	// splits, so a changed delegation can be told from the same one.
	PoolOf  string     `json:"pool_of,omitempty"`
	Granted *api.Rspec `json:"granted,omitempty"`
	// Absorbed is the hash of the last child whose guarantees came back
	// to this rcap when it was released: if that child's record is still
	// on disk, a crash interrupted its release, and load finishes it.
	Absorbed string `json:"absorbed,omitempty"`
}

// sliverState is where a sliver is in the node manager's own steps. Every
// state but ready is an intent: the step it names was under way, and Open
// finishes or undoes it after a crash.
type sliverState string

const (
	// sliverCreating: written before the runtime creates and starts the
	// sliver; after a crash the bind is rolled back.
	sliverCreating sliverState = "creating"
	// sliverReady: created and started (or stopped on purpose since).
	sliverReady sliverState = "ready"
	// sliverUpdating: new limits or attributes were being applied; after
	// a crash they are applied again from the records.
	sliverUpdating sliverState = "updating"
	// sliverDestroying: being stopped and destroyed; after a crash or a
	// failed destroy the destroy is retried. Its UID range stays taken
	// until the runtime confirms the sliver is gone.
	sliverDestroying sliverState = "destroying"
)

// sliverRecord is one sliver: its slice, the rcap it is bound to, its UID
// range and attributes.
type sliverRecord struct {
	Name    string        `json:"name"`
	Rcap    rcapHash      `json:"rcap"`
	UIDBase uint32        `json:"uid_base"`
	Attrs   api.BindAttrs `json:"attrs"`
	State   sliverState   `json:"state"`
	// Maker is the principal that created the sliver, when a slice did
	// (a broker); "" for central. See Manager.takeOverLocked.
	Maker string `json:"maker,omitempty"`
	// Unapplied marks a sliver whose last update the runtime applied
	// only in part; it is applied again, after a restart too.
	Unapplied bool `json:"unapplied,omitempty"`
}

// splitIntent is written before a split changes any rcap record; if it
// survives a crash, Open undoes the split: it deletes the child and puts the
// parent's old rspec back. The caller never got the child rcap, so nothing
// is lost.
type splitIntent struct {
	Child     rcapHash     `json:"child"`
	Parent    rcapHash     `json:"parent"`
	ParentOld checkedRspec `json:"parent_old"`
}

// MarshalText writes the hash in hex.
func (h rcapHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a hash written by MarshalText.
func (h *rcapHash) UnmarshalText(b []byte) error {
	v, err := parseHash(string(b))
	*h = v
	return err
}

// load reads every record into memory (records.load), logging the
// releases a crash interrupted that it finished.
func (m *Manager) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	finished, err := m.records.load()
	for _, f := range finished {
		child, parent, _ := strings.Cut(f, " ")
		m.log.Warn("finished interrupted release: its guarantees are back with its parent", "rcap", child, "parent", parent)
	}
	return err
}

// indexLocked rebuilds the pools, the admission ledger and
// the expiry heap from the records.
func (m *Manager) indexLocked() {
	m.records.index()
	m.ledger.reset()
	m.expiry = nil
	for _, r := range m.rcapList() {
		m.ledger.reserve(r.Hash, r.Account, r.Rspec)
		m.expiry.push(r.Hash, r.Rspec.End)
	}
}

// setStateLocked writes s with state st.
func (m *Manager) setStateLocked(s *sliverRecord, st sliverState) error {
	n := *s
	n.State = st
	return m.saveSliver(s, n)
}

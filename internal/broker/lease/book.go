package lease

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// BookFile is the name of the book in its directory.
const BookFile = "book.json"

// record is a lease as the book keeps it.
type record struct {
	Lease
	// Owner is the SHA-256 of the slice name's token, in hex.
	Owner string `json:"owner"`
	// Rcap is the child rcap while the window is open, or until the
	// agent has released it.
	Rcap api.Rcap `json:"rcap,omitempty"`
	// Attempts counts the node manager's refusals to open the lease.
	Attempts int `json:"attempts,omitempty"`
	// Account paid Cost share-slots for the lease (0 once refunded).
	Account string `json:"account,omitempty"`
	Cost    int64  `json:"cost,omitempty"`
}

// live reports whether r holds (or may hold) resources in its slots.
func (r *record) live() bool {
	return r.State == StateReserved || r.State == StateActive || r.Rcap != ""
}

type bookData struct {
	Version  int        `json:"version"`
	Leases   []*record  `json:"leases"`
	Accounts []*account `json:"accounts"`
}

// A Book holds every lease of one node and the buyers' accounts that pay
// for them, on disk in dir: a lease and its charge are one write.
type Book struct {
	dir  string
	slot int64 // seconds
	log  *slog.Logger

	mu sync.Mutex
	// mu guards the following.
	leases   map[string]*record
	accounts map[string]*account
}

// OpenBook loads the book in dir (creating dir and an empty book if there
// is none). slot is the slot length, a whole number of seconds. A book
// that cannot be read or parsed is an error: it is never overwritten.
func OpenBook(dir string, slot time.Duration, log *slog.Logger) (*Book, error) {
	if slot < time.Second || slot%time.Second != 0 {
		return nil, fmt.Errorf("slot length %v: want whole seconds, at least 1s", slot)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("book directory: %w", err)
	}
	b := &Book{dir: dir, slot: int64(slot / time.Second), log: log, leases: map[string]*record{}, accounts: map[string]*account{}}
	data, err := os.ReadFile(filepath.Join(dir, BookFile))
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read book: %w", err)
	}
	var d bookData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse book %s (left as it is): %w", filepath.Join(dir, BookFile), err)
	}
	if d.Version != schemaVersion && d.Version != 1 { // version 1: no accounts yet
		return nil, fmt.Errorf("book %s: version %d, want %d", filepath.Join(dir, BookFile), d.Version, schemaVersion)
	}
	if err := checkAccounts(d.Accounts); err != nil {
		return nil, fmt.Errorf("book %s: %w", filepath.Join(dir, BookFile), err)
	}
	for _, a := range d.Accounts {
		b.accounts[a.Name] = a
	}
	for _, r := range d.Leases {
		if r == nil || r.ID == "" || b.leases[r.ID] != nil {
			return nil, fmt.Errorf("book %s: a lease without an ID, or twice", filepath.Join(dir, BookFile))
		}
		b.leases[r.ID] = r
	}
	return b, nil
}

// Slot is the slot length.
func (b *Book) Slot() time.Duration { return dur(b.slot) }

// Reserve checks the buyer's credential cred, req against the book and
// c, and the buyer's credit; it records the lease and debits its cost on
// disk, in one write, before it returns it.
func (b *Book) Reserve(cred string, req ReserveRequest, c Capacity, now time.Time) (ReserveResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	acct, err := b.authLocked(cred)
	if err != nil {
		return ReserveResponse{}, err
	}
	if n := b.accountLeasesLocked(acct.Name, now.Unix()); n >= MaxAccountLeases {
		return ReserveResponse{}, errorf(ErrRefused, "account %s has %d leases on the book, the most it may (cancelled and finished ones count until %d slots after their end)",
			acct.Name, n, keepFinished)
	}
	r, tok, err := b.newRecord(req, now.Unix())
	if err != nil {
		return ReserveResponse{}, err
	}
	if err := b.ownerLocked(r, tok); err != nil {
		return ReserveResponse{}, err
	}
	if req.Whole {
		r.CPUShares = c.CPUShares
	}
	if err := b.admitLocked(r, c); err != nil {
		return ReserveResponse{}, err
	}
	undo, err := b.chargeLocked(acct, r)
	if err != nil {
		return ReserveResponse{}, err
	}
	b.leases[r.ID] = r
	if err := b.saveLocked(now.Unix()); err != nil {
		delete(b.leases, r.ID)
		undo()
		return ReserveResponse{}, err
	}
	b.log.Info("lease reserved", "lease", r.ID, "slice", r.Slice, "account", acct.Name, "start", stamp(r.Start), "end", stamp(r.End),
		"cpu_shares", r.CPUShares, "whole", r.Whole, "share_slots", r.Cost)
	return ReserveResponse{Lease: r.public(), Token: tok, Charged: r.Cost, CreditLeft: acct.Credit - acct.Used}, nil
}

// accountLeasesLocked counts the leases of account name that the book
// keeps (see saveLocked).
func (b *Book) accountLeasesLocked(name string, now int64) int {
	n := 0
	for _, r := range b.leases {
		if r.Account == name && (r.live() || r.End >= now-keepFinished*b.slot) {
			n++
		}
	}
	return n
}

// newRecord checks req's form and makes its record, with the token it
// asks for or a new one.
func (b *Book) newRecord(req ReserveRequest, now int64) (*record, string, error) {
	if err := checkSlice(req.Slice); err != nil {
		return nil, "", err
	}
	if err := checkKeys(req.Keys); err != nil {
		return nil, "", err
	}
	if err := checkToken(req.Token); err != nil {
		return nil, "", err
	}
	start, end, err := window(req, b.slot, now)
	if err != nil {
		return nil, "", err
	}
	shares, err := checkShares(req)
	if err != nil {
		return nil, "", err
	}
	id, tok := randomHex(idBytes), req.Token
	if tok == "" {
		tok = randomHex(tokenBytes)
	}
	r := &record{Lease: Lease{ID: id, Slice: req.Slice, Keys: slices.Clone(req.Keys), Start: start, End: end,
		CPUShares: shares, Whole: req.Whole, State: StateReserved, Created: now}, Owner: hashToken(tok)}
	return r, tok, nil
}

// ownerLocked refuses r if its slice has live leases held under another
// token.
func (b *Book) ownerLocked(r *record, tok string) error {
	for _, o := range b.leases {
		if o.Slice == r.Slice && o.live() && !sameHash(o.Owner, r.Owner) {
			return errorf(ErrDenied, "slice %s has leases on this broker under another token", r.Slice)
		}
	}
	return nil
}

// Cancel cancels a reserved or active lease; the agent releases the
// rcap of an active one. A lease cancelled before its window opens is
// refunded to the account that paid for it.
func (b *Book) Cancel(req CancelRequest, now time.Time) (Lease, error) {
	if len(req.ID) > maxIDLen {
		return Lease{}, errorf(ErrInvalid, "id: %d characters (max %d)", len(req.ID), maxIDLen)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.leases[req.ID]
	if r == nil {
		return Lease{}, errorf(ErrNotFound, "lease %q: no such lease", req.ID)
	}
	if !sameHash(r.Owner, hashToken(req.Token)) {
		return Lease{}, errorf(ErrDenied, "lease %s: wrong token", r.ID)
	}
	if r.State != StateReserved && r.State != StateActive {
		return Lease{}, errorf(ErrRefused, "lease %s is %s already", r.ID, r.State)
	}
	if err := b.changeLocked(r, now.Unix(), func(r *record) {
		r.State, r.Reason = StateCancelled, "cancelled by its holder"
	}); err != nil {
		return Lease{}, err
	}
	b.log.Info("lease cancelled", "lease", r.ID, "slice", r.Slice)
	return r.public(), nil
}

// Leases returns every lease in the book, by start then ID.
func (b *Book) Leases() []Lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Lease, 0, len(b.leases))
	for _, r := range b.leases {
		out = append(out, r.public())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// public is the lease without its secrets.
func (r *record) public() Lease {
	l := r.Lease
	l.Keys = slices.Clone(l.Keys)
	return l
}

// saveLocked writes the book: a temporary file, fsync, rename, fsync of
// the directory. Finished leases older than keepFinished slots are
// dropped first.
func (b *Book) saveLocked(now int64) error {
	d := bookData{Version: schemaVersion, Leases: make([]*record, 0, len(b.leases)), Accounts: make([]*account, 0, len(b.accounts))}
	for id, r := range b.leases {
		if !r.live() && r.End < now-keepFinished*b.slot {
			delete(b.leases, id)
			continue
		}
		d.Leases = append(d.Leases, r)
	}
	sort.Slice(d.Leases, func(i, j int) bool { return d.Leases[i].ID < d.Leases[j].ID })
	for _, a := range b.accounts {
		d.Accounts = append(d.Accounts, a)
	}
	sort.Slice(d.Accounts, func(i, j int) bool { return d.Accounts[i].Name < d.Accounts[j].Name })
	data, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return fmt.Errorf("encode book: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(b.dir, BookFile), data, 0o600); err != nil {
		return fmt.Errorf("book: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

package lease

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

const (
	slot = 10 // seconds, in these tests
	t0   = 1_000_000_000
)

var key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbisOrbisOrbisOrbisOrbisOrbisOrbisOrbisOrb tess@orbis.test"

func at(sec int64) time.Time { return time.Unix(sec, 0) }

// testCred is the credential of the account every test book grants
// ample credit to.
const testCred = "tester:0123456789abcdef0123456789abcdef"

// openBook opens the book in dir and grants testCred credit there.
func openBook(t *testing.T, dir string) *Book {
	t.Helper()
	b, err := OpenBook(dir, slot*time.Second, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Grant(GrantRequest{Account: "tester", Credit: 1 << 30, Credential: testCred}, at(t0)); err != nil {
		t.Fatal(err)
	}
	return b
}

func req(slice string, start, slots, shares int64) ReserveRequest {
	return ReserveRequest{Slice: slice, Keys: []string{key}, Start: start, Slots: slots, CPUShares: shares}
}

// TestAdmissionBySlot fills slots up to the delegation's slivers and
// shares, and checks that each refusal names the slot and what is short.
func TestAdmissionBySlot(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 2, CPUShares: 10}
	now := at(t0 + 3) // inside the slot starting at t0
	s := int64(t0 + slot)
	steps := []struct {
		name string
		req  ReserveRequest
		want string // "" for admitted, else part of the error
		kind error
	}{
		{"six shares, two slots", req("site_a", s, 2, 6), "", nil},
		{"four shares overlapping", req("site_b", s+slot, 2, 4), "", nil},
		{"a third sliver where two are", req("site_c", s+slot, 1, 1), "2 of 2 slivers leased", ErrRefused},
		{"seven shares where four are", req("site_c", s+2*slot, 1, 7), "4 of 10 cpu shares leased, 7 asked", ErrRefused},
		{"one share beside the six", req("site_c", s, 1, 1), "", nil},
		{"a third sliver", req("site_d", s, 1, 1), "2 of 2 slivers leased", ErrRefused},
		{"more shares than delegated", req("site_d", s+5*slot, 1, 11), "the delegation holds 10", ErrRefused},
		{"the whole node after the others", ReserveRequest{Slice: "site_w", Keys: []string{key}, Start: s + 3*slot, Slots: 1, Whole: true}, "", nil},
		{"beside a whole lease", req("site_d", s+3*slot, 1, 1), "leased whole", ErrRefused},
		{"whole where a lease is", ReserveRequest{Slice: "site_x", Keys: []string{key}, Start: s + 2*slot, Slots: 2, Whole: true}, "not free for a whole lease", ErrRefused},
		{"the current slot", req("site_d", 0, 1, 3), "", nil},
	}
	for _, st := range steps {
		_, err := b.Reserve(testCred, st.req, c, now)
		switch {
		case st.want == "" && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case st.want != "" && (err == nil || !strings.Contains(err.Error(), st.want) || !errors.Is(err, st.kind)):
			t.Errorf("%s: %v, want %v containing %q", st.name, err, st.kind, st.want)
		}
	}
	sched, err := b.Schedule(t0, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []SlotUse{
		{Start: t0, End: t0 + slot, Slivers: 1, CPUShares: 3},
		{Start: s, End: s + slot, Slivers: 2, CPUShares: 7},
		{Start: s + slot, End: s + 2*slot, Slivers: 2, CPUShares: 10},
		{Start: s + 2*slot, End: s + 3*slot, Slivers: 1, CPUShares: 4},
		{Start: s + 3*slot, End: s + 4*slot, Slivers: 1, CPUShares: 10, Whole: true},
	}
	for i := range want {
		if sched[i] != want[i] {
			t.Errorf("slot %d: %+v, want %+v", i, sched[i], want[i])
		}
	}
}

// TestSliceLeases: one sliver per slice at a time, a slice name is held by
// the token of its first lease, and a cancel frees the slots.
func TestSliceLeases(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 4, CPUShares: 10}
	now := at(t0)
	first, err := b.Reserve(testCred, req("site_a", t0+slot, 2, 5), c, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Token) < minTokenLen || first.Lease.State != StateReserved || first.Lease.End != t0+3*slot {
		t.Fatalf("reserved: %+v", first)
	}
	if _, err := b.Reserve(testCred, req("site_a", t0+2*slot, 1, 1), c, now); !errors.Is(err, ErrDenied) {
		t.Errorf("another lease of the slice without its token: %v, want denied", err)
	}
	again := req("site_a", t0+2*slot, 1, 1)
	again.Token = first.Token
	if _, err := b.Reserve(testCred, again, c, now); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "one sliver per slice") {
		t.Errorf("an overlapping lease of the same slice: %v, want refused", err)
	}
	again.Start = t0 + 3*slot
	if _, err := b.Reserve(testCred, again, c, now); err != nil {
		t.Errorf("the next window of the same slice, with the token: %v", err)
	}
	if _, err := b.Cancel(CancelRequest{ID: first.Lease.ID, Token: "0123456789abcdef0123"}, now); !errors.Is(err, ErrDenied) {
		t.Errorf("cancel with a wrong token: %v", err)
	}
	if _, err := b.Cancel(CancelRequest{ID: "nope", Token: first.Token}, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel of an unknown lease: %v", err)
	}
	big := req("site_b", t0+slot, 1, 10)
	if _, err := b.Reserve(testCred, big, c, now); !errors.Is(err, ErrRefused) {
		t.Errorf("ten shares beside five: %v", err)
	}
	l, err := b.Cancel(CancelRequest{ID: first.Lease.ID, Token: first.Token}, now)
	if err != nil || l.State != StateCancelled {
		t.Fatalf("cancel: %+v, %v", l, err)
	}
	if _, err := b.Reserve(testCred, big, c, now); err != nil {
		t.Errorf("ten shares once the five are cancelled: %v", err)
	}
	if _, err := b.Cancel(CancelRequest{ID: first.Lease.ID, Token: first.Token}, now); !errors.Is(err, ErrRefused) {
		t.Errorf("a second cancel: %v", err)
	}
}

// TestDelegationBounds: no capacity, or a window past the delegation's
// end, is refused.
func TestDelegationBounds(t *testing.T) {
	b := openBook(t, t.TempDir())
	if _, err := b.Reserve(testCred, req("site_a", 0, 1, 1), Capacity{}, at(t0)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no delegation: %v", err)
	}
	c := Capacity{Slivers: 1, CPUShares: 1, End: t0 + 2*slot}
	if _, err := b.Reserve(testCred, req("site_a", t0+slot, 2, 1), c, at(t0)); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "delegation's end") {
		t.Errorf("past the delegation's end: %v", err)
	}
	if _, err := b.Reserve(testCred, req("site_a", t0+slot, 1, 1), c, at(t0)); err != nil {
		t.Errorf("within the delegation: %v", err)
	}
}

// TestMalformedRequests: each bad request is refused with a message
// naming its fault, and leaves the book empty.
func TestMalformedRequests(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 10, CPUShares: 1000}
	mod := func(f func(r *ReserveRequest)) ReserveRequest {
		r := req("site_a", t0+slot, 1, 1)
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  ReserveRequest
		want string
	}{
		{"no slice", mod(func(r *ReserveRequest) { r.Slice = "" }), "slice: not a slice name: empty"},
		{"bad slice", mod(func(r *ReserveRequest) { r.Slice = "../etc" }), "not a slice name"},
		{"no keys", mod(func(r *ReserveRequest) { r.Keys = nil }), "keys: none"},
		{"two-line key", mod(func(r *ReserveRequest) { r.Keys = []string{key + "\nssh-rsa AAAA x"} }), "one line"},
		{"not a key", mod(func(r *ReserveRequest) { r.Keys = []string{"hello"} }), "not an SSH public key"},
		{"huge key", mod(func(r *ReserveRequest) { r.Keys = []string{"ssh-rsa " + strings.Repeat("A", 3000)} }), "bytes (max"},
		{"off the slot", mod(func(r *ReserveRequest) { r.Start = t0 + slot + 1 }), "not on a slot boundary"},
		{"past", mod(func(r *ReserveRequest) { r.Start = t0 - slot }), "in the past"},
		{"end and slots", mod(func(r *ReserveRequest) { r.End = t0 + 3*slot }), "not both"},
		{"neither", mod(func(r *ReserveRequest) { r.Slots = 0 }), "give end or slots"},
		{"end before start", mod(func(r *ReserveRequest) { r.Slots, r.End = 0, t0 }), "not after start"},
		{"end off the slot", mod(func(r *ReserveRequest) { r.Slots, r.End = 0, t0+2*slot+3 }), "not on a slot boundary"},
		{"too long", mod(func(r *ReserveRequest) { r.Slots = MaxLeaseSlots + 1 }), "max"},
		{"too long by end", mod(func(r *ReserveRequest) { r.Slots, r.End = 0, t0+slot*(MaxLeaseSlots+2) }), "max"},
		{"too far", mod(func(r *ReserveRequest) { r.Start = t0 + slot*(MaxAheadSlots+1) }), "slots ahead"},
		{"negative", mod(func(r *ReserveRequest) { r.Start = -slot }), "negative"},
		{"huge end", mod(func(r *ReserveRequest) { r.Slots, r.End = 0, (1<<62)/slot*slot }), "max"},
		{"negative shares", mod(func(r *ReserveRequest) { r.CPUShares = -1 }), "out of range"},
		{"shares and whole", mod(func(r *ReserveRequest) { r.Whole = true }), "not both"},
		{"short token", mod(func(r *ReserveRequest) { r.Token = "abc" }), "token"},
	} {
		_, err := b.Reserve(testCred, tc.req, c, at(t0))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid containing %q", tc.name, err, tc.want)
		}
	}
	if n := len(b.Leases()); n != 0 {
		t.Errorf("%d leases after malformed requests", n)
	}
}

// TestBookPersists: a confirmed lease is in the book after a restart and
// still counts in admission; a malformed book refuses to load and is left
// as it was; a book that cannot be written confirms nothing.
func TestBookPersists(t *testing.T) {
	dir := t.TempDir()
	b := openBook(t, dir)
	c := Capacity{Slivers: 1, CPUShares: 4}
	r, err := b.Reserve(testCred, req("site_a", t0+slot, 3, 4), c, at(t0))
	if err != nil {
		t.Fatal(err)
	}
	b2 := openBook(t, dir)
	got := b2.Leases()
	if len(got) != 1 || got[0].ID != r.Lease.ID || got[0].Slice != "site_a" || got[0].Keys[0] != key {
		t.Fatalf("after reopening: %+v", got)
	}
	if _, err := b2.Reserve(testCred, req("site_b", t0+2*slot, 1, 1), c, at(t0)); !errors.Is(err, ErrRefused) {
		t.Errorf("after reopening, a lease over the one on disk: %v", err)
	}
	if _, err := b2.Cancel(CancelRequest{ID: r.Lease.ID, Token: r.Token}, at(t0)); err != nil {
		t.Errorf("cancel with the token after reopening: %v", err)
	}

	path := filepath.Join(dir, BookFile)
	bad := []byte(`{"version":1,"leases":[{"id":"x"`)
	os.WriteFile(path, bad, 0o600)
	if _, err := OpenBook(dir, slot*time.Second, testutil.Logger(t)); err == nil || !strings.Contains(err.Error(), "left as it is") {
		t.Errorf("a truncated book: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != string(bad) {
		t.Errorf("the malformed book was changed")
	}

	gone := filepath.Join(t.TempDir(), "book")
	b3 := openBook(t, gone)
	os.RemoveAll(gone)
	os.WriteFile(gone, nil, 0o600) // a file where the directory was
	if _, err := b3.Reserve(testCred, req("site_a", t0+slot, 1, 1), c, at(t0)); err == nil {
		t.Errorf("a reservation the book could not write was confirmed")
	}
	if n := len(b3.Leases()); n != 0 {
		t.Errorf("%d leases in memory after a failed write", n)
	}
}

// TestFinishedLeasesPruned: finished leases leave the book keepFinished
// slots after their end; live ones never do.
func TestFinishedLeasesPruned(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 2, CPUShares: 2}
	done, _ := b.Reserve(testCred, req("site_a", t0, 1, 1), c, at(t0))
	b.update(done.Lease.ID, t0+slot, func(r *record) { r.State = StateDone })
	later, _ := b.Reserve(testCred, req("site_b", t0+slot*(keepFinished+2), 1, 1), c, at(t0+slot*(keepFinished+2)))
	ids := map[string]bool{}
	for _, l := range b.Leases() {
		ids[l.ID] = true
	}
	if ids[done.Lease.ID] || !ids[later.Lease.ID] {
		t.Errorf("leases after %d slots: %v; want only %s", keepFinished+2, ids, later.Lease.ID)
	}
}

// TestAccountLeasesBounded: a lease cancelled before it opens is
// refunded, so reserve-and-cancel costs nothing; the book still never
// holds more than MaxAccountLeases of one account.
func TestAccountLeasesBounded(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 1, CPUShares: 10}
	now := at(t0 + 3)
	for i := range MaxAccountLeases {
		res, err := b.Reserve(testCred, req("site_a", t0+slot, 1, 1), c, now)
		if err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
		if _, err := b.Cancel(CancelRequest{ID: res.Lease.ID, Token: res.Token}, now); err != nil {
			t.Fatalf("cancel %d: %v", i, err)
		}
	}
	_, err := b.Reserve(testCred, req("site_a", t0+slot, 1, 1), c, now)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "leases on the book") {
		t.Fatalf("reserve past the bound: %v, want refused", err)
	}
	if n := len(b.Leases()); n != MaxAccountLeases {
		t.Errorf("book holds %d leases, want %d", n, MaxAccountLeases)
	}
	// Once they are dropped, the account leases again.
	later := at(t0 + (2+keepFinished+1)*slot)
	if _, err := b.Reserve(testCred, req("site_a", t0+(2+keepFinished+1)*slot, 1, 1), c, later); err != nil {
		t.Fatalf("reserve once the old leases are dropped: %v", err)
	}
}

package lease

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

func grant(t *testing.T, b *Book, req GrantRequest) GrantResponse {
	t.Helper()
	g, err := b.Grant(req, at(t0))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func left(t *testing.T, b *Book, cred string) int64 {
	t.Helper()
	a, err := b.AccountOf(cred)
	if err != nil {
		t.Fatal(err)
	}
	return a.Left
}

// TestCredit: a lease costs its shares × slots, debited from the buyer's
// account with the lease; beyond the credit it is refused; a cancel
// before the window and a failure to open refund it, a cancel once the
// window opened does not.
func TestCredit(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 10, CPUShares: 10}
	alice := grant(t, b, GrantRequest{Account: "alice", Credit: 30}).Credential
	if !strings.HasPrefix(alice, "alice:") || len(alice) != len("alice:")+2*tokenBytes {
		t.Fatalf("credential %q", alice)
	}
	r1, err := b.Reserve(alice, req("site_a", t0+slot, 2, 3), c, at(t0))
	if err != nil || r1.Charged != 6 || r1.CreditLeft != 24 {
		t.Fatalf("two slots of three shares: %+v, %v; want charged 6, 24 left", r1, err)
	}
	whole := ReserveRequest{Slice: "site_w", Keys: []string{key}, Start: t0 + 5*slot, Slots: 2, Whole: true}
	rw, err := b.Reserve(alice, whole, c, at(t0))
	if err != nil || rw.Charged != 20 {
		t.Fatalf("a whole lease of two slots: %+v, %v; want charged 2 × the delegation's 10 shares", rw, err)
	}
	_, err = b.Reserve(alice, req("site_b", t0+slot, 1, 5), c, at(t0))
	if !errors.Is(err, ErrCredit) || !strings.Contains(err.Error(), "costs 5 share-slots") || !strings.Contains(err.Error(), "4 left of 30") {
		t.Errorf("five share-slots with four left: %v", err)
	}
	if _, err := b.Cancel(CancelRequest{ID: rw.Lease.ID, Token: rw.Token}, at(t0)); err != nil || left(t, b, alice) != 24 {
		t.Errorf("cancel before the window: %v, %d left; want the 20 back", err, left(t, b, alice))
	}
	if _, err := b.Cancel(CancelRequest{ID: r1.Lease.ID, Token: r1.Token}, at(t0+slot)); err != nil || left(t, b, alice) != 24 {
		t.Errorf("cancel once the window opened: %v, %d left; want no refund", err, left(t, b, alice))
	}
	r2, err := b.Reserve(alice, req("site_c", t0+3*slot, 1, 4), c, at(t0))
	if err != nil || left(t, b, alice) != 20 {
		t.Fatalf("four share-slots: %v, %d left", err, left(t, b, alice))
	}
	b.update(r2.Lease.ID, t0+3*slot, func(r *record) { r.State = StateFailed })
	if left(t, b, alice) != 24 {
		t.Errorf("a lease that failed unopened: %d left, want its 4 back", left(t, b, alice))
	}
	b.update(r2.Lease.ID, t0+3*slot, func(r *record) { r.Reason = "again" })
	if left(t, b, alice) != 24 {
		t.Errorf("refunded twice: %d left", left(t, b, alice))
	}
}

// TestAccountsPersist: accounts and their debits are in the book with
// the leases, only the secret's hash is on disk, and a debit whose book
// could not be written is undone.
func TestAccountsPersist(t *testing.T) {
	dir := t.TempDir()
	b := openBook(t, dir)
	c := Capacity{Slivers: 10, CPUShares: 10}
	cred := grant(t, b, GrantRequest{Account: "bob", Credit: 10}).Credential
	if _, err := b.Reserve(cred, req("site_a", t0+slot, 1, 7), c, at(t0)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, BookFile))
	_, secret, _ := strings.Cut(cred, ":")
	if strings.Contains(string(data), secret) || !strings.Contains(string(data), hashToken(secret)) {
		t.Errorf("the book holds the secret, or not its hash:\n%s", data)
	}
	b2 := openBook(t, dir)
	if got := left(t, b2, cred); got != 3 {
		t.Errorf("after reopening: %d left, want 3", got)
	}
	if _, err := b2.Reserve(cred, req("site_b", t0+2*slot, 1, 4), c, at(t0)); !errors.Is(err, ErrCredit) {
		t.Errorf("after reopening, four share-slots with three left: %v", err)
	}

	gone := filepath.Join(t.TempDir(), "book")
	b3 := openBook(t, gone)
	cred3 := grant(t, b3, GrantRequest{Account: "carol", Credit: 10}).Credential
	os.RemoveAll(gone)
	os.WriteFile(gone, nil, 0o600)
	if _, err := b3.Reserve(cred3, req("site_a", t0+slot, 1, 7), c, at(t0)); err == nil {
		t.Fatal("a reservation the book could not write was confirmed")
	}
	if got := left(t, b3, cred3); got != 10 {
		t.Errorf("after a failed write: %d left, want 10", got)
	}
	if _, err := b3.Grant(GrantRequest{Account: "dave", Credit: 1}, at(t0)); err == nil || len(b3.Accounts()) != 2 {
		t.Errorf("an account the book could not write: %v, %+v", err, b3.Accounts())
	}
}

// TestGrant: top-ups keep the secret, rotation replaces it, a credential
// given by the operator is taken as it is, and credit cannot be taken
// back below what is used.
func TestGrant(t *testing.T) {
	b := openBook(t, t.TempDir())
	c := Capacity{Slivers: 10, CPUShares: 10}
	old := grant(t, b, GrantRequest{Account: "erin", Credit: 5}).Credential
	g := grant(t, b, GrantRequest{Account: "erin", Credit: 5})
	if g.Credential != "" || g.Account.Credit != 10 || left(t, b, old) != 10 {
		t.Errorf("top-up: %+v", g)
	}
	if _, err := b.Reserve(old, req("site_a", t0+slot, 1, 4), c, at(t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Grant(GrantRequest{Account: "erin", Credit: -7}, at(t0)); !errors.Is(err, ErrRefused) {
		t.Errorf("taking back used credit: %v", err)
	}
	if g := grant(t, b, GrantRequest{Account: "erin", Credit: -6}); g.Account.Left != 0 {
		t.Errorf("taking back the unused credit: %+v", g.Account)
	}
	rotated := grant(t, b, GrantRequest{Account: "erin", Rotate: true}).Credential
	if _, err := b.AccountOf(old); !errors.Is(err, ErrUnauthorized) || rotated == old || rotated == "" {
		t.Errorf("the old credential after rotation: %v", err)
	}
	if _, err := b.AccountOf(rotated); err != nil {
		t.Errorf("the rotated credential: %v", err)
	}
	given := "frank:" + strings.Repeat("ab", 16)
	if g := grant(t, b, GrantRequest{Account: "frank", Credit: 3, Credential: given}); g.Credential != given || left(t, b, given) != 3 {
		t.Errorf("a given credential: %+v", g)
	}
	as := b.Accounts()
	if len(as) != 3 || as[0].Name != "erin" || as[0].Live != 1 || as[0].Used != 4 || as[1].Name != "frank" {
		t.Errorf("accounts: %+v", as)
	}
}

// TestServerCredit: through the API, the operator grants, the buyer
// reserves until the credit runs out (402) and reads its balance, and
// neither the buyer nor anyone else may grant.
func TestServerCredit(t *testing.T) {
	ctx := context.Background()
	c, _ := newServer(t, FixedCapacity{Cap: Capacity{Slivers: 4, CPUShares: 10}})
	op := c.WithAuth(testOperator)
	g, err := op.Grant(ctx, GrantRequest{Account: "gina", Credit: 4})
	if err != nil {
		t.Fatal(err)
	}
	buyer := c.WithAuth(g.Credential)
	if _, err := buyer.Reserve(ctx, req("site_a", t0+slot, 2, 2)); err != nil {
		t.Fatal(err)
	}
	_, err = buyer.Reserve(ctx, req("site_b", t0+slot, 1, 1))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != http.StatusPaymentRequired || !strings.Contains(ce.Msg, "0 left of 4") {
		t.Errorf("a lease beyond the credit: %v", err)
	}
	if a, err := buyer.Account(ctx); err != nil || a.Name != "gina" || a.Left != 0 || a.Live != 1 {
		t.Errorf("the buyer's account: %+v, %v", a, err)
	}
	if _, err := buyer.Grant(ctx, GrantRequest{Account: "gina", Credit: 100}); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Errorf("a buyer granting itself credit: %v", err)
	}
	if _, err := NewClient(c.URL()).Reserve(ctx, req("site_c", t0+2*slot, 1, 1)); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Errorf("a reservation without a credential: %v", err)
	}
	as, err := op.Accounts(ctx)
	if err != nil || len(as) != 2 || as[0].Name != "gina" || as[0].Used != 4 {
		t.Errorf("accounts: %+v, %v", as, err)
	}
}

// TestOperatorSecret: made once with mode 0600 and kept; a secret others
// may read, a symlink or garbage is refused.
func TestOperatorSecret(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadOperatorSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, OperatorFile))
	if err != nil || st.Mode().Perm() != 0o600 || len(s1) != 2*tokenBytes {
		t.Fatalf("operator secret %q: %v, %v", s1, st.Mode(), err)
	}
	if s2, err := LoadOperatorSecret(dir); err != nil || s2 != s1 {
		t.Errorf("second load: %q, %v; want the same secret", s2, err)
	}
	os.Chmod(filepath.Join(dir, OperatorFile), 0o644)
	if _, err := LoadOperatorSecret(dir); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("a secret others may read: %v", err)
	}
	link := t.TempDir()
	os.Symlink(filepath.Join(dir, OperatorFile), filepath.Join(link, OperatorFile))
	if _, err := LoadOperatorSecret(link); err == nil {
		t.Errorf("a symlinked secret was followed")
	}
	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, OperatorFile), []byte("password\n"), 0o600)
	if _, err := LoadOperatorSecret(junk); err == nil || !strings.Contains(err.Error(), "hex") {
		t.Errorf("a junk secret: %v", err)
	}
}

// TestBookVersion1: a book written before accounts existed loads, its
// leases kept.
func TestBookVersion1(t *testing.T) {
	dir := t.TempDir()
	v1 := `{"version":1,"leases":[{"id":"0011223344556677","slice":"site_a","keys":["` + key +
		`"],"start":1000000010,"end":1000000020,"cpu_shares":1,"state":"reserved","created":1000000000,"owner":"` + hashToken("x") + `"}]}`
	os.WriteFile(filepath.Join(dir, BookFile), []byte(v1), 0o600)
	b, err := OpenBook(dir, slot*time.Second, testutil.Logger(t))
	if err != nil || len(b.Leases()) != 1 || len(b.Accounts()) != 0 {
		t.Fatalf("a version 1 book: %v", err)
	}
}

package lease

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// An Account is a buyer's credit on this broker, as the API shows it.
// Credit is counted in share-slots: a lease of S CPU shares (the whole
// delegation's shares for a whole lease) for N slots costs S × N.
type Account struct {
	Name string `json:"name"`
	// Credit is every share-slot granted to the account so far.
	Credit int64 `json:"credit"`
	// Used is what its leases were charged, refunds deducted.
	Used int64 `json:"used"`
	// Left is Credit - Used: what it may still reserve.
	Left int64 `json:"left"`
	// Live counts its reserved and active leases.
	Live    int   `json:"live"`
	Created int64 `json:"created"`
}

// GrantRequest is the operator's grant of credit (POST /v1/accounts): it
// opens the account if it is new, or adds to its credit.
type GrantRequest struct {
	Account string `json:"account"`
	// Credit is the share-slots added; negative takes unused credit back.
	Credit int64 `json:"credit"`
	// Rotate gives an existing account a new secret (the old one stops
	// working).
	Rotate bool `json:"rotate,omitempty"`
	// Credential, if set, is the credential (ACCOUNT:SECRET) the account
	// takes, so that an operator can give a buyer one credential for the
	// brokers of every node; otherwise a new account gets a new one.
	Credential string `json:"credential,omitempty"`
}

// GrantResponse is the account after a grant. Credential is set only
// when the account got a new secret: the broker keeps its hash alone.
type GrantResponse struct {
	Account    Account `json:"account"`
	Credential string  `json:"credential,omitempty"`
}

// account is an Account as the book keeps it.
type account struct {
	Name string `json:"name"`
	// Hash is the SHA-256 of the credential's secret, in hex.
	Hash    string `json:"hash"`
	Credit  int64  `json:"credit"`
	Used    int64  `json:"used"`
	Created int64  `json:"created"`
}

// Bounds of accounts.
const (
	// MaxAccounts is how many accounts one broker keeps.
	MaxAccounts = 4096
	// MaxCredit bounds an account's credit, in share-slots.
	MaxCredit = 1 << 40

	maxAccountName = 64
	minSecretLen   = 32
	maxSecretLen   = 128
)

var (
	accountRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_.@-]*$`) })
	hexRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]+$`) })
	// dummyHash is compared against when the account is unknown, so that
	// an unknown name takes as long as a wrong secret.
	dummyHash = hashToken("no such account")
)

func checkAccountName(name string) error {
	if name == "" || len(name) > maxAccountName || !accountRE().MatchString(name) {
		return errorf(ErrInvalid, "account: %q is not an account name (1 to %d of a-z 0-9 _ . @ -, starting with a letter or digit)",
			clip(name), maxAccountName)
	}
	return nil
}

// parseCredential splits ACCOUNT:SECRET. Every failure is ErrUnauthorized
// and never echoes the secret.
func parseCredential(cred string) (name, secret string, err error) {
	if cred == "" {
		return "", "", errorf(ErrUnauthorized, "no credential: buying a lease needs one from the broker's operator "+
			"(orbis lease reserve --credential-file FILE, or $ORBIS_LEASE_CREDENTIAL)")
	}
	name, secret, ok := strings.Cut(cred, ":")
	if !ok || checkAccountName(name) != nil || len(secret) < minSecretLen || len(secret) > maxSecretLen || !hexRE().MatchString(secret) {
		return "", "", errorf(ErrUnauthorized, "credential: malformed (want ACCOUNT:SECRET, the secret %d to %d hex digits)", minSecretLen, maxSecretLen)
	}
	return name, secret, nil
}

// authLocked finds the account cred proves, comparing hashes in constant
// time.
func (b *Book) authLocked(cred string) (*account, error) {
	name, secret, err := parseCredential(cred)
	if err != nil {
		return nil, err
	}
	a := b.accounts[name]
	want := dummyHash
	if a != nil {
		want = a.Hash
	}
	if !sameHash(want, hashToken(secret)) || a == nil {
		return nil, errorf(ErrUnauthorized, "credential: unknown account or wrong secret")
	}
	return a, nil
}

// chargeLocked debits r's cost from a, or refuses it. It returns what
// undoes the debit.
func (b *Book) chargeLocked(a *account, r *record) (func(), error) {
	cost := r.CPUShares * ((r.End - r.Start) / b.slot)
	if left := a.Credit - a.Used; cost > left {
		return nil, errorf(ErrCredit, "credit: the lease costs %d share-slots (%d cpu shares × %d slots), account %s has %d left of %d",
			cost, r.CPUShares, (r.End-r.Start)/b.slot, a.Name, left, a.Credit)
	}
	a.Used += cost
	r.Account, r.Cost = a.Name, cost
	return func() { a.Used -= cost }, nil
}

// settleLocked refunds a lease's cost when it leaves the reserved state
// undelivered: cancelled before its window opened, or failed unopened.
// old is the record before the change. It returns what undoes the refund.
func (b *Book) settleLocked(old, r *record, now int64) func() {
	a := b.accounts[r.Account]
	refund := old.State == StateReserved &&
		(r.State == StateFailed || r.State == StateCancelled && now < r.Start)
	if a == nil || r.Cost == 0 || !refund {
		return func() {}
	}
	cost := r.Cost
	a.Used -= cost
	r.Cost = 0
	b.log.Info("lease refunded", "lease", r.ID, "account", a.Name, "share_slots", cost)
	return func() { a.Used += cost }
}

// Grant opens an account or changes its credit, and saves the book
// before it returns.
func (b *Book) Grant(req GrantRequest, now time.Time) (GrantResponse, error) {
	secret, err := checkGrant(req)
	if err != nil {
		return GrantResponse{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a, isNew := b.accounts[req.Account], false
	if a == nil {
		if req.Credit < 0 || req.Rotate {
			return GrantResponse{}, errorf(ErrNotFound, "account %s: no such account (a new one takes credit ≥ 0, no rotate)", req.Account)
		}
		if len(b.accounts) >= MaxAccounts {
			return GrantResponse{}, errorf(ErrRefused, "the broker holds %d accounts already (max %d)", len(b.accounts), MaxAccounts)
		}
		a, isNew = &account{Name: req.Account, Created: now.Unix()}, true
	}
	if secret == "" && (isNew || req.Rotate) {
		secret = randomHex(tokenBytes)
	}
	credit := a.Credit + req.Credit
	switch {
	case credit < a.Used:
		return GrantResponse{}, errorf(ErrRefused, "account %s: credit %d would fall below the %d share-slots used", a.Name, credit, a.Used)
	case credit > MaxCredit:
		return GrantResponse{}, errorf(ErrInvalid, "credit: the account would hold %d share-slots (max %d)", credit, int64(MaxCredit))
	}
	old := *a
	a.Credit = credit
	if secret != "" {
		a.Hash = hashToken(secret)
	}
	b.accounts[a.Name] = a
	if err := b.saveLocked(now.Unix()); err != nil {
		if isNew {
			delete(b.accounts, a.Name)
		}
		*a = old
		return GrantResponse{}, err
	}
	b.log.Info("credit granted", "account", a.Name, "credit", a.Credit, "added", req.Credit, "new", isNew, "new_secret", secret != "")
	resp := GrantResponse{Account: b.viewLocked(a)}
	if secret != "" {
		resp.Credential = a.Name + ":" + secret
	}
	return resp, nil
}

// checkGrant checks a grant's form and returns the secret it sets, if any.
func checkGrant(req GrantRequest) (string, error) {
	if err := checkAccountName(req.Account); err != nil {
		return "", err
	}
	if req.Credit < -MaxCredit || req.Credit > MaxCredit {
		return "", errorf(ErrInvalid, "credit: %d is out of range (±%d)", req.Credit, int64(MaxCredit))
	}
	if req.Credential == "" {
		return "", nil
	}
	if req.Rotate {
		return "", errorf(ErrInvalid, "give rotate or credential, not both")
	}
	name, secret, err := parseCredential(req.Credential)
	switch {
	case err != nil:
		return "", errorf(ErrInvalid, "%v", err)
	case name != req.Account:
		return "", errorf(ErrInvalid, "credential: it names account %q, not %q", name, req.Account)
	}
	return secret, nil
}

// Accounts returns every account, by name.
func (b *Book) Accounts() []Account {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Account, 0, len(b.accounts))
	for _, a := range b.accounts {
		out = append(out, b.viewLocked(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AccountOf returns the account cred proves.
func (b *Book) AccountOf(cred string) (Account, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, err := b.authLocked(cred)
	if err != nil {
		return Account{}, err
	}
	return b.viewLocked(a), nil
}

func (b *Book) viewLocked(a *account) Account {
	v := Account{Name: a.Name, Credit: a.Credit, Used: a.Used, Left: a.Credit - a.Used, Created: a.Created}
	for _, r := range b.leases {
		if r.Account == a.Name && (r.State == StateReserved || r.State == StateActive) {
			v.Live++
		}
	}
	return v
}

// checkAccounts checks the accounts of a book read from disk.
func checkAccounts(as []*account) error {
	seen := map[string]bool{}
	for _, a := range as {
		switch {
		case a == nil || checkAccountName(a.Name) != nil || seen[a.Name]:
			return errorf(ErrInvalid, "an account without a valid name, or twice")
		case len(a.Hash) != 64 || !hexRE().MatchString(a.Hash):
			return errorf(ErrInvalid, "account %s: hash is not SHA-256 hex", a.Name)
		case a.Credit < 0 || a.Used < 0 || a.Credit > MaxCredit:
			return errorf(ErrInvalid, "account %s: credit %d, used %d", a.Name, a.Credit, a.Used)
		}
		seen[a.Name] = true
	}
	return nil
}

// clip shortens what a message echoes of hostile input.
func clip(s string) string {
	if len(s) > maxAccountName+8 {
		return s[:maxAccountName] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

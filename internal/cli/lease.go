package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/orbisproject/orbis/internal/broker/lease"
)

func init() {
	register(&Command{
		Name:    "lease",
		Summary: "reserve a node, or a share of it, for a time window from lease brokers (reserve, list, cancel, schedule, account)",
		Run:     runLease,
	})
}

const leaseUsage = `usage: orbis lease SUBCOMMAND --broker URL[,URL...] [FLAGS]

A lease broker runs in a slice of its own on each node it sells, at
https://NODE:61080 by default, with a certificate of a CA of its own: give
each broker's URL with that CA's hash, as orbis-lease serve prints it
(https://NODE:61080#sha256:HEX), and the CLI refuses a broker with
another CA. Plain http:// is for a loopback broker only, unless
--insecure-http. A window is whole slots (an hour on a real
broker): --start now (the current slot), next, +DURATION (the first slot
boundary after), a time (RFC 3339) or Unix seconds.

Brokers sell leases: reserve and account need the credential
(ACCOUNT:SECRET) the broker's operator issued you, read from
--credential-file FILE or $ORBIS_LEASE_CREDENTIAL (never an argument,
which other users see). A lease of S cpu shares for N slots costs S × N
share-slots of credit (a whole lease: all the delegation's shares);
cancelling before the window opens gives them back.

A slice name's token guards its leases: the first reserve of the name
sets it; cancelling, and leasing the name again while it has leases,
need it. It too is read from --token-file FILE or $ORBIS_LEASE_TOKEN,
never an argument. A reserve without one makes a new token: with
--token-file FILE where FILE does not exist yet, it saves it there
(mode 0600); else it prints it, to be kept in a file only you can read
(chmod 600).

  reserve --slice S --key FILE [--start T] [--slots N | --end T]
          [--cpu-shares N | --whole] [--token-file FILE] [--partial]
        reserve the window on every broker; all or nothing unless
        --partial
  list [--json]                   the brokers' leases
  cancel [--token-file FILE] (--slice S | ID...)
  schedule [--start T] [--slots N]  what each slot holds, of what capacity
  account                         your credit on each broker
`

// leaseCredentialEnv may hold a buyer's credential; leaseTokenEnv a
// slice name's token.
const (
	leaseCredentialEnv = "ORBIS_LEASE_CREDENTIAL"
	leaseTokenEnv      = "ORBIS_LEASE_TOKEN"
)

// errTokenFlag answers the --token flag, which put the token where other
// users see it (ps, /proc/PID/cmdline).
var errTokenFlag = errors.New("--token is gone: a token on the command line is visible to other users; " +
	"keep it in a file only you can read and give --token-file FILE, or set $" + leaseTokenEnv)

// leaseFlags are the flags of every lease subcommand.
type leaseFlags struct {
	fs                 *flag.FlagSet
	brokers            []string
	slice, key         string
	credFile           string
	tokenFile          string
	start, end         string
	slots, shares      int64
	whole, partial, js bool
	insecureHTTP       bool
}

func parseLeaseFlags(sub string, args []string) (*leaseFlags, error) {
	f := &leaseFlags{fs: flag.NewFlagSet("orbis lease "+sub, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false, "allow a plain http:// broker that is not loopback: your credential and token cross the network in clear")
	fs.Func("broker", "broker URL with its CA hash, https://HOST:PORT#sha256:HEX (repeat, or comma-separated)", func(v string) error {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				f.brokers = append(f.brokers, b)
			}
		}
		return nil
	})
	fs.StringVar(&f.slice, "slice", "", "slice name")
	fs.StringVar(&f.key, "key", "", "SSH public key file")
	fs.StringVar(&f.credFile, "credential-file", "", "file holding your credential (default $"+leaseCredentialEnv+")")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the slice name's token (default $"+leaseTokenEnv+"); reserve makes it if it does not exist")
	fs.StringVar(&f.start, "start", "now", "window start")
	fs.StringVar(&f.end, "end", "", "window end (instead of --slots)")
	fs.Int64Var(&f.slots, "slots", 0, "window length in slots (default 1)")
	fs.Int64Var(&f.shares, "cpu-shares", 0, "CPU shares of the delegation (default 1)")
	fs.BoolVar(&f.whole, "whole", false, "the whole delegation")
	fs.BoolVar(&f.partial, "partial", false, "keep the leases granted when some broker refuses")
	fs.BoolVar(&f.js, "json", false, "print JSON")
	if hasTokenFlag(args) {
		return nil, errTokenFlag
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(f.brokers) == 0 {
		return nil, errors.New("--broker: at least one broker URL")
	}
	for _, b := range f.brokers {
		if err := lease.CheckBroker(b, f.insecureHTTP); err != nil {
			return nil, fmt.Errorf("--broker: %w", err)
		}
	}
	return f, nil
}

// hasTokenFlag tells whether args give the old --token flag.
func hasTokenFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "token" {
			return true
		}
	}
	return false
}

func runLease(ctx context.Context, env *Env, args []string) error {
	sub, rest, err := subcommand("lease", args, "reserve", "list", "cancel", "schedule", "account")
	if err != nil {
		return err
	}
	f, err := parseLeaseFlags(sub, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, leaseUsage)
			return nil
		}
		return &UsageError{Msg: fmt.Sprintf("orbis lease %s: %v\n%s", sub, err, leaseUsage)}
	}
	switch sub {
	case "reserve":
		return leaseReserve(ctx, env, f)
	case "list":
		return leaseList(ctx, env, f)
	case "cancel":
		return leaseCancel(ctx, env, f)
	case "account":
		return leaseAccount(ctx, env, f)
	}
	return leaseSchedule(ctx, env, f)
}

// brokerName is a broker's host:port, as tables show it.
func brokerName(b string) string {
	if u, err := url.Parse(b); err == nil && u.Host != "" {
		return u.Host
	}
	return b
}

// eachBroker calls fn on every broker at once and reports each outcome,
// in the order they finish, to done.
func eachBroker[T any](ctx context.Context, brokers []string, fn func(*lease.Client) (T, error), done func(i int, v T, err error)) {
	type result struct {
		i   int
		v   T
		err error
	}
	ch := make(chan result)
	var wg sync.WaitGroup
	for i, b := range brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := fn(lease.NewClient(b))
			ch <- result{i, v, err}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	for r := range ch {
		done(r.i, r.v, r.err)
	}
}

// parseWhen turns a --start or --end value into Unix seconds on a slot
// boundary of slot seconds; "now" is 0 (the broker's current slot).
func parseLeaseWhen(v string, slot int64, now time.Time) (int64, error) {
	ceil := func(t int64) int64 { return (t + slot - 1) / slot * slot }
	switch {
	case v == "now" || v == "":
		return 0, nil
	case v == "next":
		return ceil(now.Unix() + 1), nil
	case strings.HasPrefix(v, "+"):
		d, err := time.ParseDuration(v[1:])
		if err != nil {
			return 0, fmt.Errorf("%q: %w", v, err)
		}
		return ceil(now.Add(d).Unix()), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, fmt.Errorf("%q: want now, next, +DURATION, RFC 3339 or Unix seconds", v)
	}
	return t.Unix(), nil
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// leaseStamp formats Unix seconds for tables.
func leaseStamp(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05") }

// credential is the buyer's credential, from --credential-file or
// $ORBIS_LEASE_CREDENTIAL.
func (f *leaseFlags) credential(env *Env) (string, error) {
	if f.credFile != "" {
		return readSecretFile(env, "credential", f.credFile)
	}
	if c := strings.TrimSpace(os.Getenv(leaseCredentialEnv)); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("no credential: give --credential-file FILE or set $%s (the broker's operator issues it with orbis-lease grant)", leaseCredentialEnv)
}

// leaseToken is a slice name's token and where it came from.
type leaseToken struct {
	value string
	// from is the file or variable that holds it; "" for a new token
	// that only the output shows.
	from string
	// created is set when reserve made the token and saved it in from.
	created bool
}

// token returns the token from --token-file or $ORBIS_LEASE_TOKEN. With
// create (reserve), a missing one is made: saved in --token-file if that
// file does not exist yet, else left for the output to show.
func (f *leaseFlags) token(env *Env, create bool) (leaseToken, error) {
	if f.tokenFile != "" {
		v, err := readSecretFile(env, "token", f.tokenFile)
		if err == nil || !create || !errors.Is(err, os.ErrNotExist) {
			return leaseToken{value: v, from: f.tokenFile}, err
		}
		v = newToken()
		if err := writeNewSecret(f.tokenFile, v); err != nil {
			return leaseToken{}, fmt.Errorf("save token: %w", err)
		}
		return leaseToken{value: v, from: f.tokenFile, created: true}, nil
	}
	if v := strings.TrimSpace(os.Getenv(leaseTokenEnv)); v != "" {
		return leaseToken{value: v, from: "$" + leaseTokenEnv}, nil
	}
	if !create {
		return leaseToken{}, fmt.Errorf("no token: give --token-file FILE or set $%s (the token reserve saved or printed)", leaseTokenEnv)
	}
	return leaseToken{value: newToken()}, nil
}

// readSecretFile reads a credential or token from a file, warning when
// others may read it.
func readSecretFile(env *Env, what, path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(env.Stderr, "warning: %s file %s is readable by others (mode %v): chmod 600 it\n", what, path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(fh, 4096))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	if v := strings.TrimSpace(string(data)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s file %s is empty", what, path)
}

// writeNewSecret saves v in a new file of mode 0600; it never replaces or
// follows an existing file or symlink.
func writeNewSecret(path, v string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = fh.WriteString(v + "\n"); err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// readKey reads one public key file.
func readKey(path string) (string, error) {
	if path == "" {
		return "", errors.New("--key: the SSH public key file of the slice's user")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

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
http://NODE:61080 by default. A window is whole slots (an hour on a real
broker): --start now (the current slot), next, +DURATION (the first slot
boundary after), a time (RFC 3339) or Unix seconds.

Brokers sell leases: reserve and account need the credential
(ACCOUNT:SECRET) the broker's operator issued you, read from
--credential-file FILE or $ORBIS_LEASE_CREDENTIAL (never an argument,
which other users see). A lease of S cpu shares for N slots costs S × N
share-slots of credit (a whole lease: all the delegation's shares);
cancelling before the window opens gives them back.

  reserve --slice S --key FILE [--start T] [--slots N | --end T]
          [--cpu-shares N | --whole] [--token T] [--partial]
        reserve the window on every broker; all or nothing unless
        --partial; prints the token that cancels
  list [--json]                   the brokers' leases
  cancel --token T (--slice S | ID...)
  schedule [--start T] [--slots N]  what each slot holds, of what capacity
  account                         your credit on each broker
`

// leaseCredentialEnv may hold a buyer's credential.
const leaseCredentialEnv = "ORBIS_LEASE_CREDENTIAL"

// leaseFlags are the flags of every lease subcommand.
type leaseFlags struct {
	fs                 *flag.FlagSet
	brokers            []string
	slice, key, token  string
	credFile           string
	start, end         string
	slots, shares      int64
	whole, partial, js bool
}

func parseLeaseFlags(sub string, args []string) (*leaseFlags, error) {
	f := &leaseFlags{fs: flag.NewFlagSet("orbis lease "+sub, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.Func("broker", "broker URL (repeat, or comma-separated)", func(v string) error {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				f.brokers = append(f.brokers, b)
			}
		}
		return nil
	})
	fs.StringVar(&f.slice, "slice", "", "slice name")
	fs.StringVar(&f.key, "key", "", "SSH public key file")
	fs.StringVar(&f.token, "token", "", "the slice name's token")
	fs.StringVar(&f.credFile, "credential-file", "", "file holding your credential (default $"+leaseCredentialEnv+")")
	fs.StringVar(&f.start, "start", "now", "window start")
	fs.StringVar(&f.end, "end", "", "window end (instead of --slots)")
	fs.Int64Var(&f.slots, "slots", 0, "window length in slots (default 1)")
	fs.Int64Var(&f.shares, "cpu-shares", 0, "CPU shares of the delegation (default 1)")
	fs.BoolVar(&f.whole, "whole", false, "the whole delegation")
	fs.BoolVar(&f.partial, "partial", false, "keep the leases granted when some broker refuses")
	fs.BoolVar(&f.js, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(f.brokers) == 0 {
		return nil, errors.New("--broker: at least one broker URL")
	}
	for _, b := range f.brokers {
		if u, err := url.Parse(b); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--broker %q: want http://HOST:PORT", b)
		}
	}
	return f, nil
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
	if f.credFile == "" {
		if c := strings.TrimSpace(os.Getenv(leaseCredentialEnv)); c != "" {
			return c, nil
		}
		return "", fmt.Errorf("no credential: give --credential-file FILE or set $%s (the broker's operator issues it with orbis-lease grant)", leaseCredentialEnv)
	}
	fh, err := os.Open(f.credFile)
	if err != nil {
		return "", fmt.Errorf("read credential: %w", err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(env.Stderr, "warning: credential file %s is readable by others (mode %v): chmod 600 it\n", f.credFile, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(fh, 4096))
	if err != nil {
		return "", fmt.Errorf("read credential: %w", err)
	}
	if c := strings.TrimSpace(string(data)); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("credential file %s is empty", f.credFile)
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

package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/broker/lease"
)

// leaseReserve reserves the window on every broker at once, printing each
// node's answer as it comes; unless --partial, a refusal anywhere cancels
// the leases granted elsewhere.
func leaseReserve(ctx context.Context, env *Env, f *leaseFlags) error {
	if f.slice == "" {
		return &UsageError{Msg: "orbis lease reserve: --slice is required"}
	}
	if _, err := api.ParseSliceName(f.slice); err != nil {
		return &UsageError{Msg: "orbis lease reserve: --slice: " + err.Error()}
	}
	k, err := readKey(f.key)
	if err != nil {
		return &UsageError{Msg: "orbis lease reserve: " + err.Error()}
	}
	cred, err := f.credential(env)
	if err != nil {
		return &UsageError{Msg: "orbis lease reserve: " + err.Error()}
	}
	tok, err := f.token(env, true) // one token for the slice on every broker
	if err != nil {
		return err
	}
	if tok.created {
		fmt.Fprintf(env.Stdout, "new token saved in %s (mode 0600)\n", tok.from)
	}
	token := tok.value
	now := time.Now()
	granted := make([]*lease.ReserveResponse, len(f.brokers))
	failed := 0
	fmt.Fprintf(env.Stdout, "reserving %s on %d broker(s)\n", f.slice, len(f.brokers))
	eachBroker(ctx, f.brokers, func(c *lease.Client) (lease.ReserveResponse, error) {
		req, err := f.request(ctx, c, k, token, now)
		if err != nil {
			return lease.ReserveResponse{}, err
		}
		return c.WithAuth(cred).Reserve(ctx, req)
	}, func(i int, r lease.ReserveResponse, err error) {
		name := brokerName(f.brokers[i])
		if err != nil {
			failed++
			fmt.Fprintf(env.Stdout, "  %s: refused: %v\n", name, err)
			return
		}
		granted[i] = &r
		fmt.Fprintf(env.Stdout, "  %s: lease %s, %s to %s, %d share-slots charged, %d left\n", name, r.Lease.ID,
			leaseStamp(r.Lease.Start), leaseStamp(r.Lease.End), r.Charged, r.CreditLeft)
	})
	if failed > 0 && !f.partial {
		undoReserve(ctx, env, f.brokers, granted, token)
		return fmt.Errorf("%d of %d broker(s) refused: nothing reserved (--partial keeps what was granted)", failed, len(f.brokers))
	}
	printGranted(env, f.brokers, granted)
	printToken(env, tok, f.slice)
	if failed > 0 {
		return fmt.Errorf("%d of %d broker(s) refused", failed, len(f.brokers))
	}
	return nil
}

// printToken says where the token is kept, or shows a new one with how
// to keep it.
func printToken(env *Env, tok leaseToken, slice string) {
	if tok.from != "" {
		fmt.Fprintf(env.Stdout, "the token in %s guards these leases: cancelling and further leases of %s need it\n", tok.from, slice)
		return
	}
	fmt.Fprintf(env.Stdout, "token %s (new: cancelling and further leases of %s need it)\n", tok.value, slice)
	fmt.Fprintf(env.Stdout, "save it in a file only you can read (mode 0600) and give --token-file FILE, or set $%s;\n"+
		"next time, --token-file NEW_FILE makes the token and saves it there\n", leaseTokenEnv)
}

// request builds the broker's request, the window in its slot length.
func (f *leaseFlags) request(ctx context.Context, c *lease.Client, key, token string, now time.Time) (lease.ReserveRequest, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return lease.ReserveRequest{}, err
	}
	req := lease.ReserveRequest{Slice: f.slice, Keys: []string{key}, CPUShares: f.shares, Whole: f.whole, Token: token}
	if req.Start, err = parseLeaseWhen(f.start, info.SlotSeconds, now); err != nil {
		return req, fmt.Errorf("--start %w", err)
	}
	switch {
	case f.end != "" && f.slots != 0:
		return req, errors.New("give --end or --slots, not both")
	case f.end != "":
		if req.End, err = parseLeaseWhen(f.end, info.SlotSeconds, now); err != nil || req.End == 0 {
			return req, fmt.Errorf("--end %q: not a time", f.end)
		}
	default:
		req.Slots = max(f.slots, 1)
	}
	return req, nil
}

func undoReserve(ctx context.Context, env *Env, brokers []string, granted []*lease.ReserveResponse, token string) {
	for i, g := range granted {
		if g == nil {
			continue
		}
		if _, err := lease.NewClient(brokers[i]).Cancel(ctx, g.Lease.ID, token); err != nil {
			fmt.Fprintf(env.Stdout, "  %s: could not cancel lease %s: %v\n", brokerName(brokers[i]), g.Lease.ID, err)
			continue
		}
		fmt.Fprintf(env.Stdout, "  %s: lease %s cancelled\n", brokerName(brokers[i]), g.Lease.ID)
	}
}

func printGranted(env *Env, brokers []string, granted []*lease.ReserveResponse) {
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "BROKER\tLEASE\tSLICE\tSTART (UTC)\tEND (UTC)\tCPU_SHARES")
	for i, g := range granted {
		if g != nil {
			l := g.Lease
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", brokerName(brokers[i]), l.ID, l.Slice, leaseStamp(l.Start), leaseStamp(l.End), shares(l))
		}
	}
	tw.Flush()
}

func shares(l lease.Lease) string {
	if l.Whole {
		return fmt.Sprintf("%d (whole)", l.CPUShares)
	}
	return fmt.Sprint(l.CPUShares)
}

type brokerLease struct {
	Broker string `json:"broker"`
	lease.Lease
}

// leaseList prints every broker's leases in one table.
func leaseList(ctx context.Context, env *Env, f *leaseFlags) error {
	var all []brokerLease
	var errs []error
	eachBroker(ctx, f.brokers, func(c *lease.Client) ([]lease.Lease, error) { return c.Leases(ctx) },
		func(i int, ls []lease.Lease, err error) {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", brokerName(f.brokers[i]), err))
			}
			for _, l := range ls {
				all = append(all, brokerLease{brokerName(f.brokers[i]), l})
			}
		})
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.Broker < b.Broker
	})
	if f.js {
		if err := writeJSON(env.Stdout, all); err != nil {
			return err
		}
	} else {
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "BROKER\tLEASE\tSLICE\tSTART (UTC)\tEND (UTC)\tCPU_SHARES\tSTATE\tREASON")
		for _, l := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Broker, l.ID, l.Slice, leaseStamp(l.Start), leaseStamp(l.End), shares(l.Lease), l.State, l.Reason)
		}
		tw.Flush()
	}
	return errors.Join(errs...)
}

// leaseCancel cancels the named leases, or every live lease of --slice,
// on every broker.
func leaseCancel(ctx context.Context, env *Env, f *leaseFlags) error {
	ids := f.fs.Args()
	if (f.slice == "") == (len(ids) == 0) {
		return &UsageError{Msg: "orbis lease cancel: --slice or lease IDs (not both)\n" + leaseUsage}
	}
	tok, err := f.token(env, false)
	if err != nil {
		return &UsageError{Msg: "orbis lease cancel: " + err.Error()}
	}
	var errs []error
	eachBroker(ctx, f.brokers, func(c *lease.Client) ([]string, error) {
		ls, err := c.Leases(ctx)
		if err != nil {
			return nil, err
		}
		var done []string
		for _, l := range ls {
			live := l.State == lease.StateReserved || l.State == lease.StateActive
			if live && (l.Slice == f.slice || slices.Contains(ids, l.ID)) {
				if _, err := c.Cancel(ctx, l.ID, tok.value); err != nil {
					return done, fmt.Errorf("lease %s: %w", l.ID, err)
				}
				done = append(done, l.ID)
			}
		}
		return done, nil
	}, func(i int, done []string, err error) {
		for _, id := range done {
			fmt.Fprintf(env.Stdout, "  %s: lease %s cancelled\n", brokerName(f.brokers[i]), id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", brokerName(f.brokers[i]), err))
			fmt.Fprintf(env.Stdout, "  %s: %v\n", brokerName(f.brokers[i]), err)
		}
	})
	return errors.Join(errs...)
}

// leaseAccount prints the buyer's account on every broker.
func leaseAccount(ctx context.Context, env *Env, f *leaseFlags) error {
	cred, err := f.credential(env)
	if err != nil {
		return &UsageError{Msg: "orbis lease account: " + err.Error()}
	}
	out := make([]*lease.Account, len(f.brokers))
	var errs []error
	eachBroker(ctx, f.brokers, func(c *lease.Client) (lease.Account, error) { return c.WithAuth(cred).Account(ctx) },
		func(i int, a lease.Account, err error) {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", brokerName(f.brokers[i]), err))
				return
			}
			out[i] = &a
		})
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "BROKER\tACCOUNT\tCREDIT\tUSED\tLEFT\tLIVE_LEASES")
	for i, a := range out {
		if a != nil {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", brokerName(f.brokers[i]), a.Name, a.Credit, a.Used, a.Left, a.Live)
		}
	}
	tw.Flush()
	return errors.Join(errs...)
}

// leaseSchedule prints what each slot holds on every broker, beside its
// capacity.
func leaseSchedule(ctx context.Context, env *Env, f *leaseFlags) error {
	n := int(max(f.slots, 8))
	type sched struct {
		info  lease.Info
		slots []lease.SlotUse
	}
	out := make([]*sched, len(f.brokers))
	var errs []error
	now := time.Now()
	eachBroker(ctx, f.brokers, func(c *lease.Client) (sched, error) {
		info, err := c.Info(ctx)
		if err != nil {
			return sched{}, err
		}
		from, err := parseLeaseWhen(f.start, info.SlotSeconds, now)
		if err != nil {
			return sched{}, fmt.Errorf("--start %w", err)
		}
		if from == 0 {
			from = info.Now
		}
		s, err := c.Schedule(ctx, from, n)
		return sched{info, s}, err
	}, func(i int, s sched, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", brokerName(f.brokers[i]), err))
			return
		}
		out[i] = &s
	})
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "BROKER\tSLOT (UTC)\tSLIVERS\tCPU_SHARES\tWHOLE")
	for i, s := range out {
		if s == nil {
			continue
		}
		c := s.info.Capacity
		for _, u := range s.slots {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d/%d\t%v\n", brokerName(f.brokers[i]), leaseStamp(u.Start), u.Slivers, c.Slivers, u.CPUShares, c.CPUShares, u.Whole)
		}
		if s.info.Problem != "" {
			fmt.Fprintf(tw, "%s\t(%s)\t\t\t\n", brokerName(f.brokers[i]), s.info.Problem)
		}
	}
	tw.Flush()
	return errors.Join(errs...)
}

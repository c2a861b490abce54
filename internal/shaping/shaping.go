// Package shaping shares the node's uplink among slivers with HTB (paper
// section 4.2.2), configured through netlink, never by running tc.
//
// The hierarchy on the uplink:
//
//	1:    htb qdisc, default class 1:2
//	1:1   root class, rate = ceil = the node's cap (site admin, default 100 Mbit/s)
//	1:2   traffic of no sliver (the node's own), rate 1 Mbit/s or less, ceil = cap
//	1:NN  one per sliver, NN = Index+netfilter.ClassOffset (hex),
//	      rate = MinRate (its guarantee), ceil = MaxRate (or less, past its
//	      daily byte threshold)
//	1:8NN the sliver's low-rate class for ICMP echo requests and packets with
//	      IP options: rate 8 kbit/s, ceil 16 kbit/s (about 20 pings a second)
//
// Packets reach a class through skb->priority, which package netfilter sets
// per sliver (the tc cgroup and fw classifiers are missing on this kernel).
// Spare capacity goes to busy classes in proportion to their quanta, which
// are set in proportion to their rates (clamped to 1600..200000 bytes).
// Guarantees are admitted only while their sum fits under the cap.
package shaping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// Sliver is the same description of a sliver as package netfilter's.
type Sliver = netfilter.Sliver

// Rates, in kbit/s.
const (
	DefaultRootRate = 100_000 // the node's cap unless the site admin sets one
	NodeClassRate   = 1_000   // guarantee of the node's own traffic, at most
	LowRate         = 8       // low-rate class (ICMP echo, IP options)
	LowCeil         = 16
)

// Shaper keeps the HTB hierarchy of one device. Its methods are safe for
// concurrent use.
type Shaper struct {
	log *slog.Logger
	tc  tc

	// mu guards the following.
	mu       sync.Mutex
	root     int64             // the cap, kbit/s
	slivers  map[string]Sliver // by name
	throttle map[string]int64  // ceilings lowered by the daily limiter, kbit/s
	// stale are the minors of sliver classes that an earlier run left and
	// no Set has claimed since; Prune deletes them.
	stale map[uint16]bool
}

// An Option changes how New works.
type Option func(*options)

type options struct{ netns string }

// InNetNS makes the Shaper work on a device in the network namespace at
// path (tests use throwaway namespaces).
func InNetNS(path string) Option { return func(o *options) { o.netns = path } }

// New installs the HTB root qdisc, root class and node class on dev,
// replacing any root qdisc there but one an earlier run left: that one it
// adopts, so that a restarting agent neither fails nor unshapes the
// slivers that kept running (their classes stay until Set claims them or
// Prune deletes them). rootRate is the cap in kbit/s (0:
// DefaultRootRate).
func New(dev string, rootRate int64, log *slog.Logger, opts ...Option) (*Shaper, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if rootRate == 0 {
		rootRate = DefaultRootRate
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k, err := newKernelTC(dev, o.netns)
	if err != nil {
		return nil, err
	}
	return newShaper(k, rootRate, log.With("dev", dev))
}

// newShaper sets up the root and node classes through t.
func newShaper(t tc, root int64, log *slog.Logger) (*Shaper, error) {
	found, err := t.init(classes(root, nil, nil))
	if err != nil {
		t.close()
		return nil, err
	}
	stale := map[uint16]bool{}
	for _, m := range found {
		if m != rootMinor && m != nodeMinor {
			stale[m] = true
		}
	}
	if found != nil {
		log.Info("adopted the shaping an earlier run left", "sliver_classes", len(stale))
	}
	return &Shaper{log: log, tc: t, root: root, slivers: map[string]Sliver{}, throttle: map[string]int64{}, stale: stale}, nil
}

// Set creates or changes sl's classes. It refuses a guarantee that would
// take the sum of guarantees over the cap.
func (s *Shaper) Set(ctx context.Context, sl Sliver) error {
	if err := sl.Validate(); err != nil {
		return err
	}
	if sl.MinRate <= 0 || sl.MaxRate < sl.MinRate {
		return fmt.Errorf("sliver %s: rates %d..%d kbit/s: need 0 < min <= max", sl.Name, sl.MinRate, sl.MaxRate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := admit(s.root, s.slivers, sl); err != nil {
		return err
	}
	for _, o := range s.slivers {
		if o.Index == sl.Index && o.Name != sl.Name {
			return fmt.Errorf("sliver %s: index %d already used by %s", sl.Name, sl.Index, o.Name)
		}
	}
	for _, c := range sliverClasses(s.root, sl, s.throttle[sl.Name]) {
		if err := s.tc.setClass(c); err != nil {
			return fmt.Errorf("shape sliver %s: %w", sl.Name, err)
		}
		delete(s.stale, c.minor)
	}
	s.slivers[sl.Name] = sl
	return nil
}

// Prune deletes the sliver classes an earlier run left that no Set has
// claimed: those of slivers that went while no agent ran. Call it once
// every sliver that remains has been Set.
func (s *Shaper) Prune(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for m := range s.stale {
		if err := s.tc.delClass(m); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.stale, m)
	}
	if len(errs) > 0 {
		return fmt.Errorf("prune stale classes: %w", errors.Join(errs...))
	}
	return nil
}

// admit checks that sl's guarantee fits beside the others'.
func admit(root int64, slivers map[string]Sliver, sl Sliver) error {
	sum := sl.MinRate
	for name, o := range slivers {
		if name != sl.Name {
			sum += o.MinRate
		}
	}
	if sum > root {
		return fmt.Errorf("admit sliver %s: guarantees would total %d kbit/s, %d kbit/s over the node's cap of %d kbit/s",
			sl.Name, sum, sum-root, root)
	}
	return nil
}

// Remove deletes name's classes; removing an unknown sliver is not an error.
func (s *Shaper) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl, ok := s.slivers[name]
	if !ok {
		return nil
	}
	for _, c := range sliverClasses(s.root, sl, 0) {
		if err := s.tc.delClass(c.minor); err != nil {
			return fmt.Errorf("unshape sliver %s: %w", name, err)
		}
	}
	delete(s.slivers, name)
	delete(s.throttle, name)
	return nil
}

// SetCap changes the node's cap (kbit/s), the site admin's word: it applies
// even below the sum of guarantees (which then shrink in proportion, and
// new ones are refused), and is logged.
func (s *Shaper) SetCap(ctx context.Context, rate int64) error {
	if rate <= 0 {
		return fmt.Errorf("node cap %d kbit/s: must be positive", rate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum int64
	for _, sl := range s.slivers {
		sum += sl.MinRate
	}
	if sum > rate {
		s.log.Warn("node cap below the slivers' guarantees", "cap_kbit", rate, "guarantees_kbit", sum)
	}
	s.root = rate
	for _, c := range classes(rate, s.sorted(), s.throttle) {
		if err := s.tc.setClass(c); err != nil {
			return fmt.Errorf("set node cap: %w", err)
		}
	}
	s.log.Info("node cap set", "kbit", rate)
	return nil
}

// Cap returns the node's cap in kbit/s.
func (s *Shaper) Cap() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.root
}

// Throttle lowers name's ceiling to ceil kbit/s (never under its MinRate,
// never over its MaxRate); 0 restores it. The daily limiter uses it; the
// setting outlives later Set calls.
func (s *Shaper) Throttle(ctx context.Context, name string, ceil int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl, ok := s.slivers[name]
	if !ok {
		return fmt.Errorf("throttle sliver %s: not shaped", name)
	}
	if ceil == 0 {
		delete(s.throttle, name)
	} else {
		s.throttle[name] = ceil
	}
	if err := s.tc.setClass(sliverClasses(s.root, sl, ceil)[0]); err != nil {
		return fmt.Errorf("throttle sliver %s: %w", name, err)
	}
	return nil
}

// shaped returns the shaped slivers (a copy).
func (s *Shaper) shaped() map[string]Sliver {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Sliver, len(s.slivers))
	for k, v := range s.slivers {
		out[k] = v
	}
	return out
}

func (s *Shaper) sorted() []Sliver {
	out := make([]Sliver, 0, len(s.slivers))
	for _, sl := range s.slivers {
		out = append(out, sl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Close deletes the root qdisc and with it every class: the uplink is no
// longer shaped. A restarting agent should not call it.
func (s *Shaper) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.tc.deleteRoot()
	s.tc.close()
	if err != nil {
		return fmt.Errorf("delete root qdisc: %w", err)
	}
	return nil
}

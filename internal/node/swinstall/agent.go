// Package swinstall is the node's side of software distribution (`orbis
// slice push`; the whole design is in package manifest's doc). It follows
// the node's sliver list, and for each sliver whose slice has software
// (api.Sliver.Software) other than what is installed, it fetches the
// manifest and the blobs missing from the node-wide cache in one request,
// installs the tree into the sliver at its destination, runs the tree's
// update hook (.orbis/update) inside the sliver as its root with a
// timeout and bounded output, and reports its progress to central (at
// most one report a second, and its end at once).
//
// The sliver is hostile: the tree is written through a directory fd of
// the sliver's root with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), by
// a thread whose fsuid and fsgid are the sliver's root's, so no symlink
// it planted is followed, nothing lands outside its root, and the kernel
// grants no more than the sliver's root could do. A file is made at its
// path with O_EXCL where nothing is there, and anything there is replaced
// by rename, never written through; only paths of the previous manifest
// are ever removed, so files the sliver made itself are kept.
//
// The node-wide cache keeps a fetch's blobs in one pack file (see
// pack.go), each checked against its hash once, as it arrives; installs
// read them from there into every sliver that needs them.
package swinstall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
)

// Central is what the installer needs of central; *api.NodeClient is one.
type Central interface {
	Slivers(ctx context.Context, since int64) (api.Slivers, error)
	SoftwareManifest(ctx context.Context, slice, hash string) ([]byte, error)
	SoftwareBlobs(ctx context.Context, slice string, hashes []string, fn func(hash string, size int64, r io.Reader) error) error
	SoftwareReport(ctx context.Context, reports []api.SoftwareReport) error
}

var _ Central = (*api.NodeClient)(nil)

// Slivers is what the installer needs of the node's sliver runtime;
// *sliver.Manager is one.
type Slivers interface {
	Spec(name string) (sliver.Spec, error)
	Exec(ctx context.Context, name string, cmd sandbox.Cmd) (*sandbox.Process, error)
}

var _ Slivers = (*sliver.Manager)(nil)

// Options configure Run.
type Options struct {
	Central Central
	Slivers Slivers
	// StateDir holds the cache and the install records (host-only).
	StateDir string
	// HookTimeout bounds the update hook (0: DefaultHookTimeout).
	HookTimeout time.Duration
	// Retry is how long a failed install waits before the next try (0:
	// 10 s); a sliver that does not exist yet is tried again sooner.
	Retry time.Duration
	Log   *slog.Logger
}

// agent follows the list and runs one update at a time per slice.
type agent struct {
	opts  Options
	cache *Cache
	kick  chan struct{}

	// mu guards the following.
	mu      sync.Mutex
	wanted  map[string]api.SliverSoftware
	busy    map[string]bool
	retryAt map[string]time.Time
	collect bool // an update ended or the list changed since the last Collect
}

// Run follows central's list for the node and keeps each sliver's
// software as its slice's, until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.HookTimeout <= 0 {
		opts.HookTimeout = DefaultHookTimeout
	}
	if opts.Retry <= 0 {
		opts.Retry = 10 * time.Second
	}
	cache, err := OpenCache(opts.StateDir)
	if err != nil {
		return err
	}
	a := &agent{opts: opts, cache: cache, kick: make(chan struct{}, 1),
		wanted: map[string]api.SliverSoftware{}, busy: map[string]bool{}, retryAt: map[string]time.Time{}}
	go a.loop(ctx)
	return a.follow(ctx)
}

// follow long-polls the node's list and hands each new one to the loop.
func (a *agent) follow(ctx context.Context) error {
	since, backoff, first := int64(-1), time.Second, true
	for ctx.Err() == nil {
		list, err := a.opts.Central.Slivers(ctx, since)
		if err != nil {
			if ctx.Err() == nil {
				a.opts.Log.Debug("software: list", "err", err)
			}
			sleep(ctx, backoff/2+rand.N(backoff/2))
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff, since = time.Second, list.Version
		if list.Slivers != nil { // nil: unchanged (204)
			a.setWanted(ctx, list.Slivers, first)
			first = false
		}
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// setWanted records each sliver's software; at the first list it also
// reports what is installed already (central forgets reports when it
// restarts).
func (a *agent) setWanted(ctx context.Context, list []api.Sliver, first bool) {
	a.mu.Lock()
	a.wanted, a.collect = map[string]api.SliverSoftware{}, true
	for _, s := range list {
		if s.Software != nil {
			a.wanted[s.Name] = *s.Software
		}
	}
	wanted := a.wanted
	a.mu.Unlock()
	// A slice that left the node loses its sliver: should it come back,
	// its new sliver has nothing installed.
	for _, name := range a.cache.InstalledSlices() {
		if _, ok := wanted[name]; !ok && !slices.ContainsFunc(list, func(s api.Sliver) bool { return s.Name == name }) {
			a.cache.Forget(name)
		}
	}
	if first {
		var reps []api.SoftwareReport
		for name, sw := range wanted {
			if in := a.cache.Installed(name); in.is(sw) {
				reps = append(reps, api.SoftwareReport{Slice: name, Manifest: sw.Manifest, State: api.SoftwareInstalled, HookExit: in.HookExit})
			}
		}
		if len(reps) > 0 {
			a.opts.Central.SoftwareReport(ctx, reps)
		}
	}
	a.poke()
}

func (a *agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// loop starts an update for every slice whose installed software is not
// the wanted one, at most one per slice, and retries failures.
func (a *agent) loop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-tick.C:
		}
		a.startUpdates(ctx)
	}
}

// is reports whether the record is of the wanted software sw.
func (in Installed) is(sw api.SliverSoftware) bool {
	return in.Manifest == sw.Manifest && in.Dest == sw.Dest
}

func (a *agent) startUpdates(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for name, sw := range a.wanted {
		in := a.cache.Installed(name)
		if a.busy[name] || in.is(sw) || now.Before(a.retryAt[name]) {
			continue
		}
		a.busy[name] = true
		go a.run(ctx, name, sw)
	}
	if len(a.busy) == 0 && a.collect {
		a.collect = false
		keep := []string{}
		for name := range a.wanted {
			keep = append(keep, a.cache.Installed(name).Manifest)
		}
		a.cache.Collect(keep)
	}
}

// run updates one slice and schedules a retry if it failed.
func (a *agent) run(ctx context.Context, name string, sw api.SliverSoftware) {
	err := a.update(ctx, name, sw)
	a.mu.Lock()
	delete(a.busy, name)
	a.collect = true
	switch {
	case err == nil:
		delete(a.retryAt, name)
	case errors.Is(err, sliver.ErrNotFound):
		a.retryAt[name] = time.Now().Add(time.Second)
	default:
		a.retryAt[name] = time.Now().Add(a.opts.Retry)
	}
	a.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		a.opts.Log.Warn("software update failed", "slice", name, "manifest", sw.Manifest, "err", err)
	}
	a.poke()
}

// update fetches, installs and runs the hook of one slice's software,
// reporting each step; a failure is reported too.
func (a *agent) update(ctx context.Context, name string, sw api.SliverSoftware) error {
	p := newProgress(ctx, a.opts.Central, a.opts.Log, api.SoftwareReport{Slice: name, Manifest: sw.Manifest, State: api.SoftwareFetching})
	defer p.stop()
	err := a.updateSteps(ctx, name, sw, p)
	if err != nil {
		p.set(true, func(r *api.SoftwareReport) {
			if errors.Is(err, sliver.ErrNotFound) {
				r.State, r.Reason = api.SoftwareFetching, "waiting for the sliver to be created"
			} else {
				r.State, r.Reason = api.SoftwareFailed, err.Error()
			}
		})
	}
	return err
}

func (a *agent) updateSteps(ctx context.Context, name string, sw api.SliverSoftware, p *progress) error {
	if _, err := a.opts.Slivers.Spec(name); err != nil {
		return err
	}
	t0 := time.Now()
	m, err := a.fetch(ctx, name, sw.Manifest, p)
	if err != nil {
		return err
	}
	tFetch := time.Now()
	p.set(false, func(r *api.SoftwareReport) { r.State = api.SoftwareInstalling })
	in := a.cache.Installed(name)
	var old *manifest.Manifest
	if in.Dest == sw.Dest && in.Manifest != "" {
		old, _ = a.cache.Manifest(in.Manifest) // unknown: every file is written again
	}
	rec := Installed{Manifest: sw.Manifest, Dest: sw.Dest}
	var hookErr error
	tInstall := time.Now()
	err = installTree(ctx, a.opts.Slivers, name, sw.Dest, old, m, a.cache, func() {
		tInstall = time.Now()
		rec.HookExit, hookErr = a.hook(ctx, name, sw, m, p)
	})
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := a.cache.SetInstalled(name, rec); err != nil {
		return err
	}
	if hookErr != nil {
		p.set(true, func(r *api.SoftwareReport) { r.State, r.Reason = api.SoftwareFailed, hookErr.Error() })
		return nil // installed; a new push runs the hook again
	}
	p.set(true, func(r *api.SoftwareReport) { r.State = api.SoftwareInstalled })
	rep, sent := p.get()
	a.opts.Log.Info("software installed", "slice", name, "manifest", sw.Manifest, "dest", sw.Dest, "fetched", rep.BytesFetched,
		"fetch", tFetch.Sub(t0), "install", tInstall.Sub(tFetch), "hook", time.Since(tInstall), "reports", sent)
	return nil
}

// hook runs the tree's update hook, if it has one, and returns its exit
// status (nil: no hook) and an error if it failed.
func (a *agent) hook(ctx context.Context, name string, sw api.SliverSoftware, m *manifest.Manifest, p *progress) (*int, error) {
	if e := m.Lookup(manifest.HookPath); e == nil || e.Type != manifest.File {
		return nil, nil
	}
	p.set(false, func(r *api.SoftwareReport) { r.State = api.SoftwareHook })
	code, out, err := runHook(ctx, a.opts.Slivers, name, sw.Dest, sw.Manifest, a.opts.HookTimeout)
	p.set(false, func(r *api.SoftwareReport) { r.HookExit = &code })
	switch {
	case err != nil:
		return &code, fmt.Errorf("files installed; update hook: %w; output: %s", err, out)
	case code != 0:
		return &code, fmt.Errorf("files installed; update hook exited with status %d; output: %s", code, out)
	}
	return &code, nil
}

// fetch returns the manifest, with every blob of it in the cache,
// fetching from central only what the cache lacks.
func (a *agent) fetch(ctx context.Context, name, hash string, p *progress) (*manifest.Manifest, error) {
	m, err := a.cache.Manifest(hash)
	if err != nil || m == nil {
		data, err := a.opts.Central.SoftwareManifest(ctx, name, hash)
		if err != nil {
			return nil, err
		}
		p.set(false, func(r *api.SoftwareReport) { r.BytesFetched += int64(len(data)) })
		if m, err = a.cache.PutManifest(hash, data); err != nil {
			return nil, err
		}
	}
	hashes, _ := m.Blobs()
	var missing []string
	for _, h := range hashes {
		if !a.cache.HasBlob(h) {
			missing = append(missing, h)
		}
	}
	p.set(false, func(r *api.SoftwareReport) { r.BlobsTotal, r.BlobsDone = len(hashes), len(hashes)-len(missing) })
	for len(missing) > 0 {
		batch := missing[:min(len(missing), api.MaxHashList)]
		missing = missing[len(batch):]
		if err := a.fetchBlobs(ctx, name, batch, p); err != nil {
			return nil, fmt.Errorf("fetch blobs: %w", err)
		}
	}
	return m, nil
}

// fetchBlobs fetches blobs into one new pack of the cache, which keeps
// those that arrived whole even if the fetch failed.
func (a *agent) fetchBlobs(ctx context.Context, name string, hashes []string, p *progress) error {
	pack, err := a.cache.NewPack()
	if err != nil {
		return err
	}
	got := 0
	err = a.opts.Central.SoftwareBlobs(ctx, name, hashes, func(h string, size int64, r io.Reader) error {
		if err := pack.Add(h, size, r); err != nil {
			return err
		}
		got++
		p.set(false, func(r *api.SoftwareReport) { r.BlobsDone++; r.BytesFetched += size })
		return nil
	})
	if cerr := pack.Commit(); err == nil {
		err = cerr
	}
	if err == nil && got < len(hashes) {
		err = fmt.Errorf("central sent %d of %d blobs (was the slice pushed again?)", got, len(hashes))
	}
	return err
}

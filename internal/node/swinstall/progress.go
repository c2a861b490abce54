package swinstall

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

// reportEvery is the least time between two reports of one update that
// are not forced.
const reportEvery = time.Second

// progress keeps one update's report and sends it to central: at once
// when forced (the end), otherwise at most one each reportEvery from the
// start, a change held back being sent when that time is up; an update
// that ends within reportEvery sends one report.
// Reports are sent one at a time, each a snapshot taken as it is sent,
// so central never gets an older state after a newer one.
type progress struct {
	ctx     context.Context
	central Central
	log     *slog.Logger
	sendMu  sync.Mutex // held while sending

	// mu guards the following.
	mu    sync.Mutex
	rep   api.SoftwareReport
	last  time.Time   // when the last report was sent
	timer *time.Timer // the send of a held-back change
	sent  int
}

func newProgress(ctx context.Context, c Central, log *slog.Logger, rep api.SoftwareReport) *progress {
	return &progress{ctx: ctx, central: c, log: log, rep: rep, last: time.Now()}
}

// set changes the report with fn and sends it, at once if force.
func (p *progress) set(force bool, fn func(r *api.SoftwareReport)) {
	p.mu.Lock()
	fn(&p.rep)
	wait := reportEvery - time.Since(p.last)
	if !force && wait > 0 {
		if p.timer == nil {
			p.timer = time.AfterFunc(wait, p.flush)
		}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.flush()
}

// flush sends the report as it is now.
func (p *progress) flush() {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	rep := p.rep
	p.last = time.Now()
	p.sent++
	p.mu.Unlock()
	if err := p.central.SoftwareReport(p.ctx, []api.SoftwareReport{rep}); err != nil {
		p.log.Debug("software report", "err", err)
	}
}

// get returns the report and how many were sent.
func (p *progress) get() (api.SoftwareReport, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rep, p.sent
}

// stop cancels a held-back send: the update ended with a forced one.
func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

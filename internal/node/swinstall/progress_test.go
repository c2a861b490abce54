package swinstall

import (
	"context"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestProgressReports: an update that ends within reportEvery sends one
// report, its last state; a longer one sends a held-back change when
// reportEvery is up, and never an older state after a newer one.
func TestProgressReports(t *testing.T) {
	fc := newFakeCentral()
	p := newProgress(context.Background(), fc, testutil.Logger(t), api.SoftwareReport{Slice: "s", State: api.SoftwareFetching})
	for range 50 {
		p.set(false, func(r *api.SoftwareReport) { r.BlobsDone++ })
	}
	p.set(false, func(r *api.SoftwareReport) { r.State = api.SoftwareInstalling })
	p.set(true, func(r *api.SoftwareReport) { r.State = api.SoftwareInstalled })
	p.stop()
	time.Sleep(reportEvery + 200*time.Millisecond)
	fc.mu.Lock()
	quick := fc.reports
	fc.mu.Unlock()
	if len(quick) != 1 || quick[0].State != api.SoftwareInstalled || quick[0].BlobsDone != 50 {
		t.Fatalf("a quick update sent %+v, want one report: installed, 50 blobs", quick)
	}

	fc = newFakeCentral()
	p = newProgress(context.Background(), fc, testutil.Logger(t), api.SoftwareReport{Slice: "s", State: api.SoftwareFetching})
	p.set(false, func(r *api.SoftwareReport) { r.State = api.SoftwareHook })
	time.Sleep(reportEvery + 200*time.Millisecond)
	fc.mu.Lock()
	held := len(fc.reports) == 1 && fc.reports[0].State == api.SoftwareHook
	fc.mu.Unlock()
	if !held {
		t.Errorf("the held-back change was not sent after %s: %+v", reportEvery, fc.reports)
	}
	p.set(true, func(r *api.SoftwareReport) { r.State = api.SoftwareInstalled })
	p.stop()
	if last := fc.last(); last.State != api.SoftwareInstalled {
		t.Errorf("last report %+v, want installed", last)
	}
}

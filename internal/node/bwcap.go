package node

import (
	"context"
	"time"

	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/shaping"
)

// adminCap lets the admin service show the applied cap and set it, when
// the node shapes its uplink.
func (n *network) adminCap(cfg *admin.Config) {
	if n.shaper != nil {
		cfg.AppliedCap = n.shaper.Cap
		cfg.CapChanged = n.setCap
	}
}

// setCap records kbit (0: none set, the default) as the node's cap and
// applies it at once: the admin service calls it when it has written the
// cap file, so the file is read only at start and on SIGHUP.
func (n *network) setCap(kbit int64) {
	n.capSet.Store(kbit)
	n.kickCap()
}

// setCapBound bounds the node's outgoing cap by the local policy's
// bandwidth (kbit/s; 0: no bound) and applies it at once.
func (n *network) setCapBound(kbit int64) {
	n.capBound.Store(kbit)
	n.kickCap()
}

func (n *network) kickCap() {
	select {
	case n.capKick <- struct{}{}:
	default:
	}
}

// loadCap reads the cap file under stateDir (`orbis node bwcap` writes
// it from another process): at start and on SIGHUP (reloadCap). A file
// that cannot be read or holds no cap changes nothing: the last good cap
// (at start, the default) stays in force, and the error is logged. No
// file means no cap set: the default.
func (n *network) loadCap(stateDir string) {
	kbit, ok, err := shaping.ReadCap(stateDir)
	if err != nil {
		n.log.Error("node cap file unusable; keeping the cap in force", "kbit", n.wantCap(), "err", err)
		return
	}
	if !ok {
		kbit = 0
	}
	n.capSet.Store(kbit)
}

// reloadCap reads the cap file again and applies what it holds at once:
// the node's reload on SIGHUP (reloadOnHUP).
func (n *network) reloadCap(stateDir string) {
	n.loadCap(stateDir)
	n.kickCap()
}

// capRetry is how soon a cap the shaper failed to apply is tried again.
const capRetry = 5 * time.Second

// watchCap applies the node's cap: the one recorded (setCap, loadCap),
// else the default, never above the local policy's bandwidth. It applies
// it again at once when setCap, setCapBound or reloadCap change it.
func (n *network) watchCap(ctx context.Context) {
	var applied int64
	for {
		var retry <-chan time.Time
		if kbit := n.wantCap(); kbit != applied {
			if err := n.shaper.SetCap(ctx, kbit); err != nil {
				n.log.Warn("node cap", "err", err)
				retry = time.After(capRetry)
			} else {
				applied = kbit
				n.log.Info("node cap applied", "kbit", kbit, "policy_bound", n.capBound.Load())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-n.capKick:
		case <-retry:
		}
	}
}

// wantCap is the cap the node should have now.
func (n *network) wantCap() int64 {
	kbit := n.capSet.Load()
	if kbit <= 0 {
		kbit = shaping.DefaultRootRate
	}
	if bound := n.capBound.Load(); bound > 0 && kbit > bound {
		kbit = bound
	}
	return kbit
}

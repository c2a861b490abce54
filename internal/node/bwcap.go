package node

import (
	"context"
	"time"

	"github.com/orbisproject/orbis/internal/shaping"
)

// setCapBound bounds the node's outgoing cap by the local policy's
// bandwidth (kbit/s; 0: no bound) and applies it at once.
func (n *network) setCapBound(kbit int64) {
	n.capBound.Store(kbit)
	select {
	case n.capKick <- struct{}{}:
	default:
	}
}

// watchCap applies the node's cap: the one `orbis node bwcap` (or the
// admin slice) recorded, else the default, never above the local policy's
// bandwidth. It looks again every interval, and at once when the policy
// changes.
func (n *network) watchCap(ctx context.Context, stateDir string, every time.Duration) {
	var applied int64
	for {
		kbit, ok, err := shaping.ReadCap(stateDir)
		if err != nil {
			n.log.Warn("node cap", "err", err)
		}
		if !ok || err != nil {
			kbit = shaping.DefaultRootRate
		}
		if bound := n.capBound.Load(); bound > 0 && kbit > bound {
			kbit = bound
		}
		if kbit != applied {
			if err := n.shaper.SetCap(ctx, kbit); err != nil {
				n.log.Warn("node cap", "err", err)
			} else {
				applied = kbit
				n.log.Info("node cap applied", "kbit", kbit, "policy_bound", n.capBound.Load())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		case <-n.capKick:
		}
	}
}

package node

import (
	"context"
	"time"
)

// diskCheckEvery is how often the agent looks at its disk space: it grows
// the slivers' btrfs image before they fill it, and stops taking new
// slivers when the disk runs out.
const diskCheckEvery = 5 * time.Second

// watchDisk checks the disk at once, then every diskCheckEvery until ctx
// is done.
func (n *Node) watchDisk(ctx context.Context) {
	n.checkDisk()
	go func() {
		t := time.NewTicker(diskCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n.checkDisk()
			}
		}
	}()
}

// checkDisk updates diskFull, and logs when the node starts or stops
// refusing new slivers for lack of disk.
func (n *Node) checkDisk() {
	sp, err := n.Disk.Space()
	if err != nil {
		n.cfg.Log.Error("disk space", "err", err)
		return
	}
	old := n.diskFull.Swap(&sp.Full)
	switch was := old != nil && *old != ""; {
	case sp.Full != "" && (!was || *old != sp.Full):
		n.cfg.Log.Error("disk full: taking no new sliver", "why", sp.Full, "free", sp.Free, "state_free", sp.StateFree)
	case sp.Full == "" && was:
		n.cfg.Log.Info("disk space back: taking new slivers again", "free", sp.Free, "state_free", sp.StateFree)
	}
}

// fullReason is why the node takes no new sliver for lack of disk, or "".
func (n *Node) fullReason() string {
	if p := n.diskFull.Load(); p != nil {
		return *p
	}
	return ""
}

package disk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// Open sets up sliver directories under stateDir with the best mechanism
// this node has: project quotas if the state directory's file system has
// them on, else btrfs qgroups (the state directory's btrfs, or a
// loop-mounted image), else none. It logs which one it picked and why.
func Open(ctx context.Context, stateDir string, opts Options, log *slog.Logger) (Quota, error) {
	q, err := openKind(ctx, stateDir, opts, log)
	if err != nil {
		return nil, err
	}
	switch q := q.(type) {
	case *none:
		q.reserve = opts.Reserve
	case *prjquota:
		q.reserve = opts.Reserve
	}
	return q, nil
}

func openKind(ctx context.Context, stateDir string, opts Options, log *slog.Logger) (Quota, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	switch opts.Force {
	case KindPrjquota:
		if !probePrjquota(stateDir) {
			return nil, fmt.Errorf("no project quotas on %s", stateDir)
		}
		return openPrjquota(stateDir)
	case KindBtrfs:
		return openBtrfs(ctx, stateDir, opts, log)
	case KindNone:
		return NewNone(stateDir)
	case "":
	default:
		return nil, fmt.Errorf("unknown disk quota kind %q", opts.Force)
	}
	if probePrjquota(stateDir) {
		log.Info("disk limits: project quotas", "dir", stateDir)
		return openPrjquota(stateDir)
	}
	q, err := openBtrfs(ctx, stateDir, opts, log)
	if err == nil {
		log.Info("disk limits: btrfs qgroups", "dir", stateDir, "image", q.mnt != "", "simple", q.simple)
		return q, nil
	}
	log.Warn("disk limits NOT enforced: no project quotas and no usable btrfs", "err", err)
	return NewNone(stateDir)
}

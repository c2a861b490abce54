package disk

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// BenchmarkCreate measures creating and removing one limited sliver
// directory: through btrfs ioctls (what Quota does), through the btrfs
// program (what it avoids), and as plain directories for reference.
//
//	go test -run - -bench Create ./internal/disk
func BenchmarkCreate(b *testing.B) {
	testutil.RequireRoot(b)
	b.Run("btrfs-ioctl", func(b *testing.B) {
		q, _ := open(b, KindBtrfs)
		benchCreate(b, q.Create, q.Remove)
	})
	b.Run("btrfs-exec", func(b *testing.B) {
		q, _ := open(b, KindBtrfs)
		root := q.(*btrfsQuota).root
		create := func(id string, limit int64) (string, error) {
			dir := filepath.Join(root, id)
			if err := run("btrfs", "-q", "subvolume", "create", dir); err != nil {
				return "", err
			}
			return dir, run("btrfs", "qgroup", "limit", fmt.Sprint(limit), dir)
		}
		remove := func(id string) error {
			return run("btrfs", "-q", "subvolume", "delete", filepath.Join(root, id))
		}
		benchCreate(b, create, remove)
	})
	b.Run("none", func(b *testing.B) {
		q, _ := open(b, KindNone)
		benchCreate(b, func(id string, _ int64) (string, error) { return q.Create(id, 0) }, q.Remove)
	})
}

func benchCreate(b *testing.B, create func(string, int64) (string, error), remove func(string) error) {
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench%d", i)
		if _, err := create(id, 64<<20); err != nil {
			b.Fatal(err)
		}
		if err := remove(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateOnly measures creation alone, with every sliver kept, to
// see whether creation stays flat as slivers accumulate (run with
// -benchtime=10000x for a node's worth).
func BenchmarkCreateOnly(b *testing.B) {
	testutil.RequireRoot(b)
	q, _ := open(b, KindBtrfs)
	took := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := q.Create(fmt.Sprintf("keep%d", i), 64<<20); err != nil {
			b.Fatal(err)
		}
		took[i] = time.Since(start)
	}
	b.StopTimer()
	// Median creation time of the first and of the last tenth of slivers.
	tenth := max(b.N/10, 1)
	b.ReportMetric(median(took[:tenth]).Seconds()*1e6, "µs-first10%")
	b.ReportMetric(median(took[b.N-tenth:]).Seconds()*1e6, "µs-last10%")
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return nil
}

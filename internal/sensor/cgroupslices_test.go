package sensor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/cgroup"
)

func setFake(t *testing.T, f *cgroup.Fake, name string, st cgroup.Stats) {
	t.Helper()
	if err := f.Set(name, cgroup.Resources{}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetStats(name, st); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupSlices(t *testing.T) {
	top, fair := cgroup.NewFake(), cgroup.NewFake()
	setFake(t, top, "fair", cgroup.Stats{CPUUsage: time.Hour}) // the fair group itself
	setFake(t, top, "guaranteed", cgroup.Stats{CPUUsage: 3 * time.Second, MemoryCurrent: 300, Pids: 3})
	setFake(t, fair, "best_effort", cgroup.Stats{CPUUsage: time.Second, MemoryCurrent: 100, Pids: 1})
	setFake(t, fair, "moving", cgroup.Stats{CPUUsage: time.Second, MemoryCurrent: 1, Pids: 1})
	setFake(t, top, "moving", cgroup.Stats{CPUUsage: 2 * time.Second, MemoryCurrent: 2, Pids: 1})
	src := &CgroupSlices{Groups: []cgroup.Manager{top, fair}, Skip: []string{"fair"}}
	got := samplesByName(t, src)
	want := map[string]SliceSample{
		"guaranteed":  {Name: "guaranteed", CPUUsage: 3 * time.Second, MemoryBytes: 300, Procs: 3},
		"best_effort": {Name: "best_effort", CPUUsage: time.Second, MemoryBytes: 100, Procs: 1},
		"moving":      {Name: "moving", CPUUsage: 3 * time.Second, MemoryBytes: 3, Procs: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}

	src.Bytes = func(context.Context) (map[string]Bytes, error) {
		return map[string]Bytes{"guaranteed": {Tx: 10, Rx: 20}, "gone": {Tx: 1}}, nil
	}
	got = samplesByName(t, src)
	if g := got["guaranteed"]; g.TxBytes != 10 || g.RxBytes != 20 || got["best_effort"].TxBytes != 0 || len(got) != 3 {
		t.Errorf("with byte counters: %v", got)
	}
	src.Bytes = func(context.Context) (map[string]Bytes, error) { return nil, errors.New("no counters") }
	if _, err := src.Slices(context.Background()); err == nil {
		t.Error("a failing byte counter fails no sample")
	}
}

func samplesByName(t *testing.T, src SliceSource) map[string]SliceSample {
	t.Helper()
	samples, err := src.Slices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]SliceSample{}
	for _, s := range samples {
		if _, dup := out[s.Name]; dup {
			t.Errorf("%s sampled twice", s.Name)
		}
		out[s.Name] = s
	}
	return out
}

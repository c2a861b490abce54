package cgroup

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"princeton_codeen", true},
		{"orbistest-a.1", true},
		{"pl", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-flag", false},
		{"a/b", false},
		{"../etc", false},
		{"pl_Codeen", true},
		{"a b", false},
		{"a\x00b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidName(tc.name); (err == nil) != tc.ok {
				t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestWeightMapping(t *testing.T) {
	for _, tc := range []struct{ w, shares, weight int64 }{
		{0, 1024, 100},
		{1, 1024, 100},
		{4, 4096, 400},
		{100, 102400, 10000},
		{256, 262144, 10000},
		{1 << 40, 262144, 10000},
	} {
		if got := cpuShares(tc.w); got != tc.shares {
			t.Errorf("cpuShares(%d) = %d, want %d", tc.w, got, tc.shares)
		}
		if got := cpuWeight(tc.w); got != tc.weight {
			t.Errorf("cpuWeight(%d) = %d, want %d", tc.w, got, tc.weight)
		}
	}
}

func TestResourcesValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Resources
		ok   bool
	}{
		{"zero", Resources{}, true},
		{"full", Resources{CPUWeight: 4, CPUQuota: 50000, CPUPeriod: 100000, CPUSet: "0-1,3", MemoryMax: 1 << 30, MemoryLow: 1 << 20, PidsMax: 100}, true},
		{"negative weight", Resources{CPUWeight: -1}, false},
		{"tiny quota", Resources{CPUQuota: 999}, false},
		{"long period", Resources{CPUPeriod: 2000000}, false},
		{"bad cpuset", Resources{CPUSet: "0\n1"}, false},
		{"cpuset injection", Resources{CPUSet: "0 > x"}, false},
		{"negative memory", Resources{MemoryMax: -1}, false},
		{"low above max", Resources{MemoryMax: 1 << 20, MemoryLow: 2 << 20}, false},
		{"low without max", Resources{MemoryLow: 2 << 20}, true},
		{"negative pids", Resources{PidsMax: -5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCheckSupported(t *testing.T) {
	err := Resources{CPUWeight: 2, PidsMax: 5}.checkSupported([]string{"cpu"})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "pids") {
		t.Errorf("pids without the pids controller: got %v, want ErrUnsupported naming pids", err)
	}
	if err := (Resources{CPUWeight: 1}).checkSupported(nil); err != nil {
		t.Errorf("default weight needs no controller, got %v", err)
	}
}

package sandbox

import "testing"

// TestKernelAtLeast: the release strings of the kernels nodes run decide
// whether slivers' raw sockets can be handed to the node (5.14).
func TestKernelAtLeast(t *testing.T) {
	for rel, want := range map[string]bool{
		"6.1.0-18-amd64": true, "5.14.0": true, "5.15.0-91-generic": true,
		"5.10.0-28-amd64": false, "4.19.0": false, "6": false, "": false,
	} {
		if got := kernelAtLeast(rel, 5, 14); got != want {
			t.Errorf("kernelAtLeast(%q, 5, 14) = %v, want %v", rel, got, want)
		}
	}
}

package node

import (
	"slices"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestServicePorts: the node's service addresses give the TCP ports no
// sliver may bind; a service turned off ("") or on port 0 gives none,
// and a malformed address is an error.
func TestServicePorts(t *testing.T) {
	got, err := servicePorts(":22", "", "127.0.0.1:33080", "[::1]:80", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.Port{{Proto: "tcp", Port: 22}, {Proto: "tcp", Port: 33080}, {Proto: "tcp", Port: 80}}
	if !slices.Equal(got, want) {
		t.Errorf("servicePorts: %v, want %v", got, want)
	}
	for _, bad := range []string{"22", "host:ssh", "127.0.0.1:70000"} {
		if _, err := servicePorts(bad); err == nil {
			t.Errorf("servicePorts(%q): no error", bad)
		}
	}
}

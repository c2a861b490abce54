package sandbox

import "testing"

func TestSmoke(t *testing.T) {
	cfg := testSliver(t, "orbistest-smoke", 200000)
	out, code := run(t, cfg, "hostname; id -u; cat /proc/self/uid_map; ls /proc; ls -la /dev")
	t.Logf("code %d\n%s", code, out)
}

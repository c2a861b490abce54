package sandbox

import "testing"

func TestSmoke(t *testing.T) {
	cfg := testSliver(t, "orbistest-smoke", 200000)
	out, code := run(t, cfg, "stat -c \"%i %u %h %n\" / /.. /../.. ; ls /.. | head; cat /proc/self/mountinfo")
	t.Logf("code %d\n%s", code, out)
}

package shaping

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRestartAdopts: an agent that exits or crashes leaves its HTB tree on
// the uplink; the next New on that device adopts it instead of failing, the
// slivers that kept running stay shaped meanwhile, Set claims their classes
// and Prune deletes those of slivers that went.
func TestRestartAdopts(t *testing.T) {
	b := newBed(t, 100000)
	capped, gone := sliver("capped", 1, 5, 1000), sliver("gone", 2, 5, 2000)
	b.add(t, capped)
	b.add(t, gone)
	b.sh.tc.close() // the agent dies: the kernel keeps its qdisc

	sh, err := New(b.p.SendDev, 50000, testutil.Logger(t), InNetNS(b.p.SendNS))
	if err != nil {
		t.Fatalf("second start on a shaped uplink: %v", err)
	}
	b.sh = sh
	wantClasses(t, b.p, "1:1", "1:2", "1:11", "1:12", "1:8011", "1:8012")
	c := b.flood(t, capped, 9001, 4*time.Second)
	within(t, "capped sliver across the restart", nettest.Rates(time.Second, 2*time.Second, c)[0], 1000, 0.05)

	ctx := testutil.Context(t)
	if err := sh.Set(ctx, capped); err != nil {
		t.Fatal(err)
	}
	if err := sh.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	wantClasses(t, b.p, "1:1", "1:2", "1:11", "1:8011")
	if out := tcShow(t, b.p, "class"); !strings.Contains(out, "class htb 1:1 root rate 50Mbit") {
		t.Errorf("the new cap is not applied:\n%s", out)
	}
}

// TestForeignRootReplaced: a root qdisc with our handle but of another
// kind, or an htb of other settings, is replaced, not adopted.
func TestForeignRootReplaced(t *testing.T) {
	testutil.RequireRoot(t)
	for _, q := range [][]string{{"pfifo"}, {"htb", "default", "7"}} {
		t.Run(q[0], func(t *testing.T) {
			p := nettest.NewPair(t)
			args := append([]string{"netns", "exec", p.SendNS[len("/run/netns/"):], "tc", "qdisc", "add", "dev", p.SendDev, "root", "handle", "1:"}, q...)
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("tc: %v: %s", err, out)
			}
			sh, err := New(p.SendDev, 0, testutil.Logger(t), InNetNS(p.SendNS))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sh.Close() })
			if out := tcShow(t, p, "qdisc"); !strings.Contains(out, "qdisc htb 1: root") || !strings.Contains(out, "default 0x2") {
				t.Errorf("root qdisc not replaced:\n%s", out)
			}
			wantClasses(t, p, "1:1", "1:2")
		})
	}
}

func tcShow(t *testing.T, p *nettest.Pair, what string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", p.SendNS[len("/run/netns/"):], "tc", what, "show", "dev", p.SendDev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc %s show: %v: %s", what, err, out)
	}
	return string(out)
}

// wantClasses checks the HTB classes on p's sending device.
func wantClasses(t *testing.T, p *nettest.Pair, want ...string) {
	t.Helper()
	var got []string
	for _, l := range strings.Split(tcShow(t, p, "class"), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "htb" {
			got = append(got, f[2])
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("classes %v, want %v", got, want)
	}
}

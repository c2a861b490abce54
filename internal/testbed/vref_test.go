package testbed_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestVrefNamesTheImage: the tag central documents as a sliver's image,
// PlanetLab's vref, is the one the node uses. A slice tagged with an
// image the node lacks gets no sliver, and says which image; tagged with
// the node's image it runs. Central refuses a vref that is not an image
// name (a path out of the images) when it is set.
func TestVrefNamesTheImage(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	name, email := testbed.Site+"_vref", "vera@orbis.test"
	newUser(t, p, email)
	newSlice(p, name, email)
	if _, err := p.rpc.Call(t.Context(), "AddSliceTag", p.auth, name, "vref", "../../etc"); err == nil {
		t.Fatal("central took a vref that is a path")
	}
	tag := p.call("AddSliceTag", name, "vref", "nosuchimage")
	p.call("AddSliceToNodes", name, hostnames(st))
	var reason string
	waitFor(t, "the node to fail the sliver on its missing image", 30*time.Second, func() bool {
		rows, _ := p.call("GetSliverReports", map[string]any{"name": name}).([]any)
		for _, r := range rows {
			row := r.(map[string]any)
			if row["state"] == "failed" {
				reason, _ = row["reason"].(string)
				return strings.Contains(reason, "nosuchimage")
			}
		}
		return false
	})
	t.Logf("report with vref=nosuchimage: %s", reason)
	p.call("UpdateSliceTag", tag, "busybox")
	waitRunning(t, p, name, 1)
}

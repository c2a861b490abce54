package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// summaries reads GetNodeSummaries of one node as the admin.
func (tc *testCentral) summaries(t *testing.T, nodeID int64) []api.NodeSummary {
	t.Helper()
	var out []api.NodeSummary
	recode(t, tc.call(t, "GetNodeSummaries", []any{nodeID}), &out)
	return out
}

// recode turns an XML-RPC answer into Go types through JSON.
func recode(t *testing.T, v, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, into)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestNodeSummaryLies: a node's owner controls what it says of itself. A
// node that lies (absurd, negative, out of order values, a hostile
// version string, another node's id), floods central with summaries and
// sends an oversized one gets its values clamped, one history point, and
// the oversized one refused; the honest node's summary, sent by its real
// agent, is untouched.
func TestNodeSummaryLies(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	tc := startCentral(t)
	site := tc.call(t, "AddSite", map[string]any{"name": "Test", "abbreviated_name": "T", "login_base": "ts", "max_slices": 5, "enabled": true})
	victimID := tc.call(t, "AddNode", site, map[string]any{"hostname": "victim.orbis.test"}).(int64)
	startNode(t, tc, "victim.orbis.test", tc.call(t, "AddNodeToken", victimID).(string))
	var victim api.NodeSummary
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s := tc.summaries(t, victimID); len(s) == 1 {
			victim = s[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the honest node's summary never reached central")
		}
	}
	if victim.MemTotal <= 0 || victim.DiskTotal <= 0 || victim.FreeMem > victim.MemTotal {
		t.Fatalf("honest summary %+v: want the node's memory and disk", victim)
	}

	liarID := tc.call(t, "AddNode", site, map[string]any{"hostname": "liar.orbis.test"}).(int64)
	reg, err := api.RegisterNode(context.Background(), tc.url, http.DefaultClient,
		api.NodeRegisterRequest{Token: tc.call(t, "AddNodeToken", liarID).(string), Hostname: "liar.orbis.test"})
	if err != nil {
		t.Fatal(err)
	}
	liar := api.NewNodeClient(tc.url, reg.NodeID, reg.Secret, http.DefaultClient)
	ctx := context.Background()
	lie := api.NodeSummary{NodeID: victimID, Updated: 1, Load: 1e300, MemTotal: -5, FreeMem: 1 << 62,
		DiskTotal: 1<<63 - 1, FreeDisk: 1<<63 - 1, Slivers: 1 << 40, BwIn: -1, BwOut: 1<<63 - 1,
		AgentVersion: "<script>\x00\x1b[31m\u202e" + strings.Repeat("x", 200)}
	if err := liar.Summary(ctx, lie); err != nil {
		t.Fatalf("send the lie: %v", err)
	}
	for range 50 {
		if err := liar.Summary(ctx, api.NodeSummary{Load: 7}); err != nil {
			t.Fatalf("flood: %v", err)
		}
	}
	if err := liar.Summary(ctx, api.NodeSummary{AgentVersion: strings.Repeat("y", api.MaxSummaryBody)}); err == nil {
		t.Error("an oversized summary was accepted")
	}

	got := tc.summaries(t, liarID)
	if len(got) != 1 {
		t.Fatalf("liar's summaries: %+v", got)
	}
	s := got[0]
	want := api.NodeSummary{NodeID: liarID, Updated: s.Updated, Load: 1e6, MemTotal: 0, FreeMem: 0,
		DiskTotal: 1 << 60, FreeDisk: 1 << 60, Slivers: 10000, BwIn: 0, BwOut: 1 << 40, AgentVersion: s.AgentVersion}
	if s != want {
		t.Errorf("liar's summary\n got %+v\nwant %+v", s, want)
	}
	if s.Updated < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("updated %d: the node's own time was kept", s.Updated)
	}
	if len(s.AgentVersion) > 64 || strings.IndexFunc(s.AgentVersion, func(r rune) bool { return !unicode.IsPrint(r) || r > unicode.MaxASCII }) >= 0 {
		t.Errorf("agent version %q: want at most 64 printable ASCII characters", s.AgentVersion)
	}
	var hist []api.NodePoint
	recode(t, tc.call(t, "GetNodeHistory", liarID), &hist)
	if len(hist) != 1 || hist[0].Load != 1e6 {
		t.Errorf("liar's history %+v: want the one point kept (the flood dropped)", hist)
	}
	if after := tc.summaries(t, victimID); len(after) != 1 || after[0].NodeID != victimID ||
		after[0].Load > maxHonestLoad || after[0].AgentVersion != victim.AgentVersion {
		t.Errorf("victim's summary %+v after the lies (before: %+v)", after, victim)
	}
}

// maxHonestLoad is more than this machine's load can be.
const maxHonestLoad = 1000

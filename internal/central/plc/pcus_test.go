package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestPCUs keeps a site's PCU records, and makes the attacks of another
// site's PI and tech (reading the PCU's password, changing or deleting
// it, putting their node on it), of a node reading another node's PCU,
// and of a tech filling the store with PCUs.
func TestPCUs(t *testing.T) {
	w := newWorld(t)
	pcu := w.id(w.techA, "AddPCU", "alpha", map[string]any{"hostname": "pcu.alpha.org", "ip": "192.0.2.30", "username": "admin", "password": "alpha-secret"})
	w.must(w.techA, "AddNodeToPCU", w.nodeA1, pcu, 1)
	w.must(w.piA, "AddNodeToPCU", w.nodeA2, pcu, 2)
	_, err := w.call(w.piA, "AddNodeToPCU", w.nodeA2, pcu, 3)
	fault(t, err, plc.FaultInvalidArg) // on it already
	got := records(t, w.must(w.piA, "GetPCUs", pcu))
	if len(got) != 1 || got[0]["password"] != "alpha-secret" || len(got[0]["node_ids"].([]any)) != 2 {
		t.Fatalf("GetPCUs: %v", got)
	}

	techB := w.person("tech@beta.org", w.siteB, "tech")
	for _, c := range []*plc.Caller{techB, w.piB} {
		if got := records(t, w.must(c, "GetPCUs")); len(got) != 0 {
			t.Fatalf("beta sees alpha's PCU: %v", got)
		}
		_, err = w.call(c, "UpdatePCU", pcu, map[string]any{"password": "mine"})
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "DeletePCU", pcu)
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "AddNodeToPCU", w.nodeB1, pcu, 9)
		fault(t, err, plc.FaultPermission)
	}
	_, err = w.call(w.admin, "AddNodeToPCU", w.nodeB1, pcu, 9)
	fault(t, err, plc.FaultInvalidArg) // another site's node
	if got := records(t, w.must(w.admin, "GetPCUs", pcu)); got[0]["password"] != "alpha-secret" {
		t.Fatalf("PCU changed: %v", got)
	}

	// A node sees only the PCUs it is on.
	if got := records(t, w.must(&plc.Caller{NodeID: w.nodeB1}, "GetPCUs")); len(got) != 0 {
		t.Fatalf("a node of beta sees %v", got)
	}
	if got := ints(t, w.must(&plc.Caller{NodeID: w.nodeA1}, "GetPCUs"), "pcu_id"); len(got) != 1 || got[0] != pcu {
		t.Fatalf("node A1 sees PCUs %v, want its own %d", got, pcu)
	}

	for _, bad := range []map[string]any{{"ip": "not-an-ip"}, {"model": "a model name longer than thirty-two characters"}, {"site_id": 2}} {
		_, err = w.call(w.techA, "UpdatePCU", pcu, bad)
		fault(t, err, plc.FaultInvalidArg)
	}
	for range 31 {
		w.id(w.techA, "AddPCU", "alpha", map[string]any{"ip": "192.0.2.31"})
	}
	_, err = w.call(w.techA, "AddPCU", "alpha", map[string]any{"ip": "192.0.2.32"})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.techA, "DeleteNodeFromPCU", w.nodeA1, pcu)
	w.must(w.techA, "DeletePCU", pcu)
}

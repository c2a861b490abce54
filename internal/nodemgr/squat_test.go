package nodemgr

import (
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestBrokerCannotSquatNames performs issue 18's squat: central removes
// slice pl_victim (with its port tcp/8080) from the node, then a broker
// binds a split of its pool, and an rcap it acquired, to the name
// pl_victim with its own key, and reserves tcp/8080. The node manager
// refuses both binds (central delegated the broker no such slice), and
// when central gives pl_victim back its sliver, central's acquire takes
// the port back from the broker.
func TestBrokerCannotSquatNames(t *testing.T) {
	e := newEnv(t)
	port := api.Port{Proto: "tcp", Port: 8080}
	victim := e.acquire(api.Rspec{Privileges: sliverRights, Ports: []api.Port{port}})
	e.bind("pl_victim", victim)
	if err := e.m.Release(e.as("pl_victim"), victim); err == nil {
		t.Fatal("the victim's own sliver released central's rcap")
	}
	if err := e.m.Release(t.Context(), victim); err != nil {
		t.Fatal(err)
	}
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 2})
	b := e.as("pl_broker")
	kid, err := e.m.Split(b, e.pool("pl_broker").Rcap, api.Rspec{Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	attrs := api.BindAttrs{Keys: []string{"ssh-ed25519 AAAA attacker@x"}}
	wantErr(t, e.m.Bind(b, "pl_victim", kid, attrs), ErrDenied, "not slice:pl_broker's to bind")
	own, err := e.m.Acquire(b, api.Rspec{End: soon, Privileges: sliverRights, Ports: []api.Port{port}})
	if err != nil {
		t.Fatalf("the broker reserving tcp/8080 for itself: %v", err)
	}
	wantErr(t, e.m.Bind(b, "pl_victim", own, attrs), ErrDenied, "not slice:pl_broker's to bind")
	if _, ok := e.rt.Sliver("pl_victim"); ok {
		t.Fatal("the broker made a sliver under the victim's name")
	}
	// Nor can it grant itself names in a split or an acquire.
	_, err = e.m.Acquire(b, api.Rspec{End: soon, Privileges: sliverRights, BindSlices: []string{"pl_victim"}})
	wantErr(t, err, ErrInvalid, "bind_slices")
	_, err = e.m.Acquire(b, api.Rspec{End: soon, Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, BindSlices: []string{"pl_victim"}})
	wantErr(t, err, ErrDenied, "node_manager")
	_, err = e.m.Split(b, e.pool("pl_broker").Rcap, api.Rspec{Privileges: sliverRights, BindSlices: []string{"pl_victim"}})
	wantErr(t, err, ErrDenied, "bind_slices")

	// Central adds the victim back: its port is its own again.
	back := e.acquire(api.Rspec{Privileges: sliverRights, Ports: []api.Port{port}})
	e.bind("pl_victim", back)
	s, ok := e.rt.Sliver("pl_victim")
	if !ok || len(s.Spec.Rspec.Ports) != 1 || s.Spec.Rspec.Ports[0] != port || len(s.Spec.Keys) != 1 || s.Spec.Keys[0] == attrs.Keys[0] {
		t.Fatalf("the victim's sliver after central added it back: %+v, %v", s, ok)
	}
	if _, err := e.m.Query(b, own); err == nil {
		t.Fatal("the broker's rcap on the victim's port outlived central's acquire")
	}
	// A name central delegates to the broker it may bind.
	if err := e.m.Bind(b, "pl_customer", kid, attrs); err != nil {
		t.Fatalf("bind a delegated slice: %v", err)
	}
}

package node

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/centraltest"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestFollowRefusesWrongCA: `orbis node --central https://... --token T`
// with a token whose CA fingerprint is not central's stops with a message
// naming both fingerprints, keeps no credentials and leaves the token
// unused; so does a token without a fingerprint over HTTPS, and plain
// HTTP to a central that is not loopback.
func TestFollowRefusesWrongCA(t *testing.T) {
	tc := centraltest.StartTLS(t, "admin@orbis.test")
	url := tc.URL
	site := tc.Call(t, "AddSite", map[string]any{"name": "T", "abbreviated_name": "T", "login_base": "ts", "max_slices": 1, "enabled": true})
	id := tc.Call(t, "AddNode", site, map[string]any{"hostname": "n1.orbis.test"})
	secret := tc.Call(t, "AddNodeToken", id).(string)

	wrong := "sha256:" + strings.Repeat("ee", 32)
	state := t.TempDir()
	cfg := Config{StateDir: state, Central: url, Hostname: "n1.orbis.test", Log: testutil.Logger(t)}
	cases := []struct {
		name, central, token, want string
	}{
		{"wrong fingerprint", url, api.JoinToken(secret, wrong), "not the expected " + wrong},
		{"no fingerprint", url, secret, "no CA fingerprint"},
		{"plain HTTP off loopback", "http://192.0.2.1:8780", secret, "--insecure-http"},
	}
	for _, c := range cases {
		cfg.Central, cfg.Token = c.central, c.token
		err := follow(context.Background(), cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
		if _, ok, _ := rm.LoadCredentials(filepath.Join(state, "rm")); ok {
			t.Fatalf("%s: the node kept credentials", c.name)
		}
	}
	// The refused joins sent nothing: the token still registers.
	creds, err := rm.Register(context.Background(), filepath.Join(state, "rm"), url, api.Trust{},
		api.NodeRegisterRequest{Token: api.JoinToken(secret, tc.CAHash), Hostname: "n1.orbis.test"})
	if err != nil || creds.CA == "" {
		t.Fatalf("join with central's fingerprint after the refusals: %+v, %v", creds, err)
	}
}

// The sensors ask central for its nodes, verifying it by the CA the
// node pinned: the node's list comes back over HTTPS.
func TestSensorNodesPinnedCA(t *testing.T) {
	tc := centraltest.StartTLS(t, "admin@orbis.test")
	site := tc.Call(t, "AddSite", map[string]any{"name": "T", "abbreviated_name": "T", "login_base": "ts", "max_slices": 1, "enabled": true})
	id := tc.Call(t, "AddNode", site, map[string]any{"hostname": "n1.orbis.test"})
	secret := tc.Call(t, "AddNodeToken", id).(string)
	state := t.TempDir()
	n := &Node{cfg: Config{StateDir: state, Log: testutil.Logger(t)}}
	src := n.centralNodes()
	if _, err := src.Nodes(testutil.Context(t)); err == nil {
		t.Fatal("the sensors' node list came from no central")
	}
	if _, err := rm.Register(testutil.Context(t), filepath.Join(state, "rm"), tc.URL, api.Trust{},
		api.NodeRegisterRequest{Token: api.JoinToken(secret, tc.CAHash), Hostname: "n1.orbis.test"}); err != nil {
		t.Fatal(err)
	}
	nodes, err := src.Nodes(testutil.Context(t))
	if err != nil || len(nodes) != 1 || nodes[0].Hostname != "n1.orbis.test" {
		t.Fatalf("the sensors' node list after registering: %+v, %v", nodes, err)
	}
}

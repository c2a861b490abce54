package central_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// TestGenerateNodeConfFileJoins: the file GenerateNodeConfFile answers
// names the central that serves it and its CA, and a node registers with
// its token alone (no --ca), pinning that CA; the token works once.
func TestGenerateNodeConfFileJoins(t *testing.T) {
	tc := startTLSCentral(t)
	site := tc.Call(t, "AddSite", map[string]any{"name": "Conf", "abbreviated_name": "conf", "login_base": "conf", "max_slices": 1})
	tc.Call(t, "AddNode", site, map[string]any{"hostname": "n1.conf.test"})
	text, _ := tc.Call(t, "GenerateNodeConfFile", "n1.conf.test").(string)
	conf := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_0-9]+)="([^"]*)"$`).FindAllStringSubmatch(text, -1) {
		conf[m[1]] = m[2]
	}
	if conf["ORBIS_CENTRAL"] != tc.URL || conf["ORBIS_CA_HASH"] != tc.CAHash {
		t.Fatalf("GenerateNodeConfFile names %q and CA %q, want %q and %q:\n%s", conf["ORBIS_CENTRAL"], conf["ORBIS_CA_HASH"], tc.URL, tc.CAHash, text)
	}
	ctx := context.Background()
	creds, err := rm.Register(ctx, t.TempDir(), conf["ORBIS_CENTRAL"], api.Trust{}, api.NodeRegisterRequest{Token: conf["ORBIS_TOKEN"], Hostname: "n1.conf.test"})
	if err != nil || creds.NodeID == 0 || creds.CA == "" {
		t.Fatalf("registering with the file's token: %+v, %v", creds, err)
	}
	if _, err := rm.Register(ctx, t.TempDir(), conf["ORBIS_CENTRAL"], api.Trust{}, api.NodeRegisterRequest{Token: conf["ORBIS_TOKEN"], Hostname: "n1.conf.test"}); err == nil {
		t.Fatal("the file's token registers a second time")
	}
}

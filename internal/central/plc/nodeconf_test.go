package plc_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// confLines parses GenerateNodeConfFile's NAME="value" lines.
func confLines(t *testing.T, v any) map[string]string {
	t.Helper()
	text, ok := v.(string)
	if !ok {
		t.Fatalf("GenerateNodeConfFile answered %T, want a string", v)
	}
	line := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)="([^"\\$` + "`" + `]*)"$`)
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("GenerateNodeConfFile: line %q is not NAME=\"value\":\n%s", l, text)
		}
		out[m[1]] = m[2]
	}
	return out
}

// TestGenerateNodeConfFile: a PI of the node's site gets the node's
// configuration (central's URL and CA hash, a registration token that
// pins that CA, the primary interface's settings); the token registers
// the node once, a new file's token replaces every earlier one, a file
// without regenerate_node_key holds none and replaces nothing; another
// site's PI, the site's tech and user get nothing and change nothing.
func TestGenerateNodeConfFile(t *testing.T) {
	caHash := "sha256:" + strings.Repeat("ab", 32)
	w := newWorldWith(t, sqliteStore, func(o *plc.Options) {
		o.CentralURL, o.CAHash = "https://plc.example.org:8780/portal/", caHash
	})
	w.must(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "static", "type": "ipv4", "ip": "198.51.100.7",
		"netmask": "255.255.255.0", "gateway": "198.51.100.1", "dns1": "198.51.100.2", "mac": "02:00:00:aa:bb:cc"})
	old := w.must(w.techA, "AddNodeToken", w.nodeA1).(string)

	conf := confLines(t, w.must(w.piA, "GenerateNodeConfFile", "n1.alpha.org"))
	for name, want := range map[string]string{"NODE_ID": "1", "HOST_NAME": "n1", "DOMAIN_NAME": "alpha.org",
		"ORBIS_CENTRAL": "https://plc.example.org:8780", "ORBIS_CA_HASH": caHash, "IP_METHOD": "static",
		"IP_ADDRESS": "198.51.100.7", "IP_GATEWAY": "198.51.100.1", "NET_DEVICE": "02:00:00:aa:bb:cc"} {
		if conf[name] != want {
			t.Errorf("%s = %q, want %q (file %v)", name, conf[name], want, conf)
		}
	}
	first, pin, err := api.SplitJoinToken(conf["ORBIS_TOKEN"])
	if err != nil || pin != caHash {
		t.Fatalf("ORBIS_TOKEN %q: CA hash %q, %v; want %s", conf["ORBIS_TOKEN"], pin, err, caHash)
	}
	if _, _, err := w.svc.RegisterNode(w.ctx, old, "", "", ""); err == nil {
		t.Fatal("an AddNodeToken token still registers after GenerateNodeConfFile made a new one")
	}

	// The attacks: none gets a file or a token, none spoils the PI's.
	techB := w.person("tech@beta.org", w.siteB, "tech")
	for _, c := range []*plc.Caller{w.piB, techB, w.techA, w.userA, w.userB} {
		v, err := w.call(c, "GenerateNodeConfFile", w.nodeA1)
		if err == nil {
			t.Fatalf("caller %d got node n1.alpha.org's configuration: %v", c.PersonID, v)
		}
		if f, ok := err.(*plc.Fault); !ok || (f.Code != plc.FaultPermission && f.Code != plc.FaultAuth) {
			t.Fatalf("caller %d: %v, want fault 103 or 108", c.PersonID, err)
		}
	}
	_, err = w.call(w.piA, "GenerateNodeConfFile", w.nodeA1, "yes")
	fault(t, err, plc.FaultInvalidArg)

	// Without regenerate_node_key: no token, and the last one still holds.
	kept := confLines(t, w.must(w.piA, "GenerateNodeConfFile", w.nodeA1, false))
	if _, ok := kept["ORBIS_TOKEN"]; ok || kept["ORBIS_CENTRAL"] != "https://plc.example.org:8780" {
		t.Fatalf("GenerateNodeConfFile without regenerate_node_key: %v", kept)
	}
	id, _, err := w.svc.RegisterNode(w.ctx, first, "n1.alpha.org", "", "")
	if err != nil || id != w.nodeA1 {
		t.Fatalf("the file's token after the attacks: node %d, %v", id, err)
	}
	if _, _, err := w.svc.RegisterNode(w.ctx, first, "n1.alpha.org", "", ""); err == nil {
		t.Fatal("a file's token registers twice")
	}

	// A new file's token replaces the one before.
	a := confLines(t, w.must(w.admin, "GenerateNodeConfFile", w.nodeA1, true))["ORBIS_TOKEN"]
	b := confLines(t, w.must(w.piA, "GenerateNodeConfFile", w.nodeA1))["ORBIS_TOKEN"]
	secretA, _, _ := api.SplitJoinToken(a)
	secretB, _, _ := api.SplitJoinToken(b)
	if _, _, err := w.svc.RegisterNode(w.ctx, secretA, "", "", ""); err == nil {
		t.Fatal("the token of a replaced configuration file still registers")
	}
	if id, _, err := w.svc.RegisterNode(w.ctx, secretB, "", "", ""); err != nil || id != w.nodeA1 {
		t.Fatalf("the newest file's token: node %d, %v", id, err)
	}
}

package nodemgr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// rawClient posts raw bodies to the Manager's socket.
func rawClient(t *testing.T, e *testEnv) func(method, op, body string) (int, string) {
	e.serve()
	sock := e.sock()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return func(method, op, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://nm/v1/"+op, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var e api.NMError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return res.StatusCode, e.Error
		}
		return res.StatusCode, string(b)
	}
}

// TestBadRequests sends malformed, negative, overflowing, unknown-field
// and huge requests and checks each gets a clear error and its status.
func TestBadRequests(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	post := rawClient(t, e)
	good := e.acquire(api.Rspec{Privileges: sliverRights})
	plain := e.acquire(api.Rspec{})
	released := e.acquire(api.Rspec{})
	if err := e.m.Release(context.Background(), released); err != nil {
		t.Fatal(err)
	}
	now := t0.Unix()
	huge := `{"rspec":{"ports":[` + strings.Repeat(`{"proto":"tcp","port":1},`, 4000) + `{"proto":"tcp","port":2}]}}`
	bind := func(slice string, attrs string) string {
		return fmt.Sprintf(`{"slice":%q,"rcap":%q,"attrs":%s}`, slice, good, attrs)
	}
	tests := []struct {
		name, method, op, body string
		status                 int
		msg                    string
	}{
		{"truncated", "POST", "acquire", `{"rspec":`, 400, "malformed JSON: unexpected end"},
		{"syntax", "POST", "acquire", `{"rspec":{cpu_shares:1}}`, 400, "malformed JSON at byte 11"},
		{"empty", "POST", "acquire", ``, 400, "empty body"},
		{"not an object", "POST", "acquire", `[1]`, 400, "want a JSON object"},
		{"trailing", "POST", "acquire", `{"rspec":{}} {}`, 400, "trailing data"},
		{"unknown field", "POST", "acquire", `{"rspec":{"cpu_sharez":1}}`, 400, `unknown field "cpu_sharez"`},
		{"unknown top field", "POST", "bind", `{"slice":"a_b","rcap":"x","extra":1}`, 400, `unknown field "extra"`},
		{"wrong type", "POST", "acquire", `{"rspec":{"cpu_shares":"1"}}`, 400, "field rspec.cpu_shares: string does not fit int64"},
		{"int64 overflow", "POST", "acquire", `{"rspec":{"memory_max":1e30}}`, 400, "number 1e30 does not fit int64"},
		{"huge", "POST", "acquire", huge, 413, "body over 65536 bytes"},
		{"negative", "POST", "acquire", `{"rspec":{"cpu_shares":-1}}`, 400, "cpu_shares: -1 is out of range (0 to 262144 shares)"},
		{"negative guarantee", "POST", "acquire", `{"rspec":{"disk_guarantee":-5}}`, 400, "disk_guarantee: -5 is out of range (0 to"},
		{"memory over 1<<62", "POST", "acquire", `{"rspec":{"memory_max":4611686018427387905}}`, 400, "memory_max: 4611686018427387905 is out of range"},
		{"memory over node", "POST", "acquire", `{"rspec":{"memory_max":8589934593}}`, 400, "memory_max: 8589934593 exceeds the node's memory (8589934592)"},
		{"cpu over 1000", "POST", "acquire", `{"rspec":{"cpu_guarantee":1001}}`, 400, "cpu_guarantee: 1001 is out of range (0 to 1000 ‰ of the node)"},
		{"guarantee over max", "POST", "acquire", `{"rspec":{"memory_max":1000,"memory_guarantee":2000}}`, 400, "memory_guarantee: 2000 exceeds memory_max 1000"},
		{"cap without guarantee", "POST", "acquire", `{"rspec":{"cpu_cap":true}}`, 400, "cpu_cap: set without cpu_guarantee"},
		{"port 0", "POST", "acquire", `{"rspec":{"ports":[{"proto":"tcp","port":0}]}}`, 400, "ports: tcp port 0 cannot be reserved"},
		{"port proto", "POST", "acquire", `{"rspec":{"ports":[{"proto":"sctp","port":9}]}}`, 400, `ports: proto "sctp" (want tcp or udp)`},
		{"port dup", "POST", "acquire", `{"rspec":{"ports":[{"proto":"udp","port":9},{"proto":"udp","port":9}]}}`, 400, "ports: udp/9 listed twice"},
		{"ephemeral port", "POST", "acquire", `{"rspec":{"ports":[{"proto":"tcp","port":40000}]}}`, 400, "ports: tcp/40000 is in the node's ephemeral range 32768-60999"},
		{"port too big", "POST", "acquire", `{"rspec":{"ports":[{"proto":"udp","port":70000}]}}`, 400, "number 70000 does not fit uint16"},
		{"end before start", "POST", "acquire", fmt.Sprintf(`{"rspec":{"start":%d,"end":%d}}`, now+100, now+50), 400, "is not after start"},
		{"end in past", "POST", "acquire", fmt.Sprintf(`{"rspec":{"start":%d,"end":%d}}`, now-100, now-50), 400, "is in the past"},
		{"end past year 9999", "POST", "acquire", `{"rspec":{"end":253402300800}}`, 400, "end: 253402300800 is out of range (0 to 253402300799 Unix seconds)"},
		{"rate order", "POST", "acquire", `{"rspec":{"net_min_rate":100,"net_max_rate":50}}`, 400, "net_min_rate: 100 exceeds net_max_rate 50"},
		{"slice no underscore", "POST", "bind", bind("princeton", `{}`), 400, "is not site_name"},
		{"slice upper-case site", "POST", "bind", bind("Princeton_x", `{}`), 400, "is not site_name"},
		{"slice path", "POST", "bind", bind("a_../../etc", `{}`), 400, "is not site_name"},
		{"slice leading dot", "POST", "bind", bind("._x", `{}`), 400, "starts with a dot"},
		{"slice dot-dot", "POST", "bind", bind("a.._b", `{}`), 400, `contains ".."`},
		{"slice too long", "POST", "bind", bind("a_"+strings.Repeat("b", 63), `{}`), 400, "name is 65 characters (max 64)"},
		{"key two lines", "POST", "bind", bind("a_b", `{"keys":["ssh-ed25519 A\nssh-rsa B"]}`), 400, "attrs.keys[0]: must be one line"},
		{"bad image", "POST", "bind", bind("a_b", `{"image":"../host"}`), 400, "attrs.image"},
		{"no create_sliver", "POST", "bind", fmt.Sprintf(`{"slice":"a_b","rcap":%q}`, plain), 403, "lacks privileges.create_sliver"},
		{"forged rcap", "POST", "query", `{"rcap":"0123456789abcdef0123456789abcdef"}`, 403, "rcap refused: unknown, released or expired"},
		{"released rcap", "POST", "release", fmt.Sprintf(`{"rcap":%q}`, released), 403, "rcap refused: unknown, released or expired"},
		{"short rcap", "POST", "query", `{"rcap":"abc"}`, 403, "rcap refused: malformed"},
		{"upper-case rcap", "POST", "bind", fmt.Sprintf(`{"slice":"a_b","rcap":%q}`, strings.ToUpper(string(good))), 403, "rcap refused: malformed"},
		{"unknown sliver", "POST", "stop", `{"name":"a_b"}`, 404, "no sliver a_b on this node"},
		{"bad sliver name", "POST", "destroy", `{"name":"../x"}`, 400, "is not site_name"},
		{"wrong method", "GET", "acquire", ``, 400, "method GET (want POST)"},
		{"unknown call", "POST", "frobnicate", `{}`, 404, "no such call"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.method, tc.op, tc.body)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", status, body, tc.status, tc.msg)
			}
		})
	}
	if l, _ := e.m.List(context.Background()); len(l.Rcaps) != 2 || len(l.Slivers) != 0 {
		t.Fatalf("bad requests changed the state: %+v", l)
	}
}

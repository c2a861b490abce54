package testbed_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/sensor"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestShellPingAndAuditInfo checks two things a slice's user meets on a
// 2-node testbed of busybox slivers.
//
// ShellPing: `ping` and `traceroute` typed in the sliver's shell, even in
// `sh -c` which reads no profile, run ping-orbis (through the node's raw
// socket service) and reach the other node, not busybox's own applets,
// which need a raw socket the sliver lacks.
//
// AuditInfo: once a slice's description and URL and its user's email
// change at central, the node's traffic auditor page shows the new ones
// (and not the old) within seconds, though the node's sliver list
// changed in nothing else.
func TestShellPingAndAuditInfo(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	n1, n2 := st.Nodes[0], st.Nodes[1]
	p := newPLC(t, st)
	name, email := testbed.Site+"_info", "carol@orbis.test"
	key := newUser(t, p, email)
	p.call("AddSlice", map[string]any{"name": name, "url": "http://orbis.test/old", "description": "Carol's old description"})
	p.call("AddPersonToSlice", email, name)
	p.call("AddSliceToNodes", name, []any{n1.Hostname})
	waitRunning(t, p, name, 1)

	t.Run("ShellPing", func(t *testing.T) {
		for _, cmd := range []string{"ping -c 1 " + n2.Addr, "traceroute -m 2 " + n2.Addr} {
			out := ssh(t, key, name, n1, "sh -c '"+cmd+"'")
			if !strings.Contains(out, "reply from "+n2.Addr) && !strings.Contains(out, "  "+n2.Addr+"  ") {
				t.Errorf("sh -c %q in the sliver: no reply from %s:\n%s", cmd, n2.Addr, out)
			}
			t.Logf("sh -c %q:\n%s", cmd, out)
		}
		// iputils' syntax as users type it, and a name that resolves to
		// ::1 before 127.0.0.1.
		for _, c := range []struct{ cmd, want string }{
			{"ping -c1 -W1 -i0.2 " + n2.Addr, "reply from " + n2.Addr},
			{"ping " + n2.Addr + " -q -n -c 2", "2 transmitted, 2 received"},
			{"ping -4 -c1 localhost", "reply from 127.0.0.1"},
			{"ping -c 1 localhost", "reply from 127.0.0.1"},
			{"traceroute -n -q 1 -w 1 -m 2 " + n2.Addr, "  " + n2.Addr + "  "},
		} {
			out := ssh(t, key, name, n1, c.cmd+" 2>&1; true")
			if !strings.Contains(out, c.want) {
				t.Errorf("%q in the sliver: want %q in:\n%s", c.cmd, c.want, out)
			}
		}
	})

	t.Run("AuditInfo", func(t *testing.T) {
		ssh(t, key, name, n1, fmt.Sprintf("nc -w 1 %s 7011 </dev/null; true", n2.Addr))
		page := strings.TrimSuffix(n1.AuditURL, "/") + "/dst/" + n2.Addr
		shows := func(want []string, not []string) func() bool {
			return func() bool {
				body := fetch(page)
				for _, w := range want {
					if !strings.Contains(body, w) {
						return false
					}
				}
				for _, n := range not {
					if strings.Contains(body, n) {
						return false
					}
				}
				return true
			}
		}
		old := []string{"Carol&#39;s old description", "http://orbis.test/old", email}
		waitFor(t, "the node's page to show the slice as it was", 30*time.Second, shows(old, nil))
		p.call("UpdateSlice", name, map[string]any{"description": "Carol's new description", "url": "http://orbis.test/new"})
		p.call("UpdatePerson", email, map[string]any{"email": "carol.new@orbis.test"})
		changed := time.Now()
		waitFor(t, "the node's page to show the slice's new description, URL and email: "+page, 30*time.Second,
			shows([]string{"Carol&#39;s new description", "http://orbis.test/new", "carol.new@orbis.test"}, old))
		t.Logf("the node's page showed the change %v after it was made", time.Since(changed).Round(100*time.Millisecond))
	})
}

// TestSensorFlood: a sliver that opens many idle connections to the
// node's sensor server keeps only its slice's bound of them (the node
// tells its UIDs from the socket's owner), and another slice's sliver
// still reads /load and /slices at once.
func TestSensorFlood(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n1 := st.Nodes[0]
	p := newPLC(t, st)
	flood, other := testbed.Site+"_flood", testbed.Site+"_calm"
	keys := map[string]string{}
	for _, s := range []string{flood, other} {
		email := s + "@orbis.test"
		keys[s] = newUser(t, p, email)
		newSlice(p, s, email)
		p.call("AddSliceToNodes", s, []any{n1.Hostname})
		waitRunning(t, p, s, 1)
	}
	const sensorAddr = "127.0.0.1 33080"
	n := 3 * sensor.DefaultMaxConnsPerClient
	// Each nc holds a connection that sends nothing (until the server's
	// 5 s header timeout) and ends when the server closes it.
	held := ssh(t, keys[flood], flood, n1, fmt.Sprintf(
		"for i in $(seq %d); do (sleep 20 | nc %s) </dev/null >/dev/null 2>&1 & done; sleep 1; pidof nc | wc -w", n, sensorAddr))
	if got, _ := strconv.Atoi(strings.TrimSpace(held)); got != sensor.DefaultMaxConnsPerClient {
		t.Errorf("the flooding sliver holds %q of its %d connections, want its slice's bound %d", held, n, sensor.DefaultMaxConnsPerClient)
	}
	start := time.Now()
	out := ssh(t, keys[other], other, n1, "wget -q -O - http://127.0.0.1:33080/load && wget -q -O - http://127.0.0.1:33080/slices | head -1")
	if !strings.HasPrefix(out, "load1\n") || !strings.Contains(out, "slice,") {
		t.Errorf("another slice's /load and /slices while the flood lasts:\n%s", out)
	}
	t.Logf("another slice read /load and /slices in %v (ssh included)", time.Since(start).Round(time.Millisecond))
}

// fetch returns the body at u, or "" on any error.
func fetch(u string) string {
	res, err := http.Get(u)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

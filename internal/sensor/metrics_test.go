package sensor

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	metricComment = regexp.MustCompile(`^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	metricSample  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*\})? (\S+)$`)
)

// parseMetrics checks every line of a text exposition and returns the
// samples by name with labels.
func parseMetrics(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if m := metricComment.FindStringSubmatch(line); m != nil {
			if m[1] == "TYPE" {
				if typed[m[2]] {
					t.Errorf("line %d: family %s typed twice", i+1, m[2])
				}
				typed[m[2]] = true
			}
			continue
		}
		m := metricSample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d is neither a comment nor a sample: %q", i+1, line)
			continue
		}
		if !typed[m[1]] {
			t.Errorf("line %d: sample of %s before its TYPE", i+1, m[1])
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("line %d: value %q: %v", i+1, m[3], err)
		}
		out[m[1]+m[2]] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	s, base := startServer(t, fullConfig(&FakeEvents{}))
	waitFor(t, "a sample", func() bool { _, seq := s.hist.wait(); return seq >= 1 })
	res, body := get(t, "GET", base+"/metrics")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	got := parseMetrics(t, body)
	for name, want := range map[string]float64{
		"node_load1":                    0.52,
		"node_load15":                   0.59,
		"node_memory_MemTotal_bytes":    4014812 * 1024,
		"node_memory_Active_anon_bytes": 512000 * 1024,
		"orbis_node_uptime_seconds":     12345.67,
		"orbis_node_cpus":               2,
		`orbis_slice_memory_bytes{slice="princeton_codeen"}`: 1 << 20,
		`orbis_slice_procs{slice="mit,quoted"}`:              1,
		"orbis_sensor_streams":                               0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{`orbis_slice_cpu_seconds_total{slice="princeton_codeen"}`, `orbis_slice_tx_bytes_total{slice="princeton_codeen"}`, `orbis_slice_rx_bytes_total{slice="princeton_codeen"}`} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
}

// TestMetricsParserRejects makes sure the check above can fail.
func TestMetricsParserRejects(t *testing.T) {
	for _, line := range []string{`foo bar baz`, `foo{slice=unquoted} 1`, `foo{slice="a"b"} 1`, `1foo 2`, `foo{slice="x"}`} {
		if metricSample.MatchString(line) {
			t.Errorf("%q passes as a sample", line)
		}
	}
	if !metricSample.MatchString(`orbis_slice_procs{slice="we\"ird\\name"} 3`) {
		t.Error("an escaped label does not pass")
	}
	if got := escapeLabel("we\"ird\\na\nme"); got != `we\"ird\\na\nme` {
		t.Errorf("escapeLabel: %s", got)
	}
}

package sensor

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/orbisproject/orbis/internal/procfs"
)

// metrics is /metrics: the Prometheus text exposition format (0.0.4),
// written by hand: node_load1/5/15, node_memory_<Name>_bytes as
// node_exporter names them, the node's uptime and CPUs, and per slice
// orbis_slice_cpu_seconds_total, orbis_slice_memory_bytes,
// orbis_slice_procs, orbis_slice_tx_bytes_total and
// orbis_slice_rx_bytes_total, then the server's own gauges. A /proc file
// that cannot be read leaves its metrics out.
func (s *Server) metrics(_ context.Context, q *query) (*answer, error) {
	if err := noPath("metrics", q); err != nil {
		return nil, err
	}
	var m metricWriter
	s.nodeMetrics(&m)
	if s.cfg.Slices != nil {
		s.sliceMetrics(&m)
	}
	kept, dropped := s.hist.counts()
	m.family("orbis_sensor_streams", "gauge", "Streams being served.")
	m.sample("orbis_sensor_streams", "", float64(s.streams.count()))
	m.family("orbis_sensor_slices_dropped", "gauge", "Slices of the latest sample left out: more than the server keeps.")
	m.sample("orbis_sensor_slices_dropped", "", float64(dropped))
	m.family("orbis_sensor_slices", "gauge", "Slices the server keeps samples of.")
	m.sample("orbis_sensor_slices", "", float64(kept))
	return &answer{ctype: metricsType, body: m.b.Bytes()}, nil
}

// nodeMetrics writes what /proc tells of the node.
func (s *Server) nodeMetrics(m *metricWriter) {
	if data, err := procfs.Read(s.cfg.ProcRoot, "loadavg"); err == nil {
		if l, err := procfs.ParseLoadavg(data); err == nil {
			for i, name := range []string{"node_load1", "node_load5", "node_load15"} {
				m.family(name, "gauge", "Load average over "+[]string{"1", "5", "15"}[i]+" minutes.")
				m.raw(name, "", l[i])
			}
		}
	}
	if data, err := procfs.Read(s.cfg.ProcRoot, "meminfo"); err == nil {
		if fields, err := procfs.ParseMeminfo(data); err == nil {
			for _, f := range fields {
				name := "node_memory_" + metricName(f.Name) + "_bytes"
				m.family(name, "gauge", "Memory information field "+f.Name+".")
				m.sample(name, "", float64(f.KB)*1024)
			}
		}
	}
	if data, err := procfs.Read(s.cfg.ProcRoot, "uptime"); err == nil {
		if u, err := procfs.ParseUptime(data); err == nil {
			m.family("orbis_node_uptime_seconds", "gauge", "Seconds since the node booted.")
			m.raw("orbis_node_uptime_seconds", "", u)
		}
	}
	if data, err := procfs.Read(s.cfg.ProcRoot, "stat"); err == nil {
		if n, err := procfs.ParseCPUs(data); err == nil {
			m.family("orbis_node_cpus", "gauge", "CPUs online.")
			m.sample("orbis_node_cpus", "", float64(n))
		}
	}
}

// sliceMetrics writes every slice's latest counters, one family at a
// time as the format wants.
func (s *Server) sliceMetrics(m *metricWriter) {
	stats := s.hist.stats()
	for _, f := range []struct {
		name, typ, help string
		value           func(sliceStat) float64
	}{
		{"orbis_slice_cpu_seconds_total", "counter", "CPU time used by the slice.", func(st sliceStat) float64 { return float64(st.last.cpu) / 1e9 }},
		{"orbis_slice_memory_bytes", "gauge", "Memory charged to the slice.", func(st sliceStat) float64 { return float64(st.mem) }},
		{"orbis_slice_procs", "gauge", "Tasks of the slice.", func(st sliceStat) float64 { return float64(st.procs) }},
		{"orbis_slice_tx_bytes_total", "counter", "Bytes the slice sent.", func(st sliceStat) float64 { return float64(st.last.tx) }},
		{"orbis_slice_rx_bytes_total", "counter", "Bytes the slice received.", func(st sliceStat) float64 { return float64(st.last.rx) }},
	} {
		m.family(f.name, f.typ, f.help)
		for _, st := range stats {
			m.sample(f.name, `slice="`+escapeLabel(st.name)+`"`, f.value(st))
		}
	}
}

// metricWriter writes the exposition format.
type metricWriter struct{ b bytes.Buffer }

func (m *metricWriter) family(name, typ, help string) {
	fmt.Fprintf(&m.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (m *metricWriter) sample(name, labels string, v float64) {
	m.raw(name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

func (m *metricWriter) raw(name, labels, v string) {
	if labels != "" {
		name += "{" + labels + "}"
	}
	fmt.Fprintf(&m.b, "%s %s\n", name, v)
}

// metricName turns a meminfo field ("Active(anon)") into a metric name
// part ("Active_anon"), as node_exporter does.
func metricName(s string) string {
	s = strings.TrimSuffix(strings.NewReplacer("(", "_", ")", "").Replace(s), "_")
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// escapeLabel escapes a label value: backslash, double quote, newline.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

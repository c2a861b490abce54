package sensor

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/procfs"
)

// Schemas of the sensors, as their header lines name the columns.
var (
	meminfoSchema   = []string{"name", "kB"}
	loadSchema      = []string{"load1"}
	load5Schema     = []string{"load5"}
	uptimeSchema    = []string{"seconds"}
	cpusSchema      = []string{"cpus"}
	indexSchema     = []string{"name", "kind", "schema", "description"}
	slicesSchema    = []string{"slice", "cpu_pct_1m", "cpu_pct_5m", "cpu_pct_15m", "mem_bytes", "procs", "tx_kbps_1m", "tx_kbps_5m", "tx_kbps_15m", "rx_kbps_1m", "rx_kbps_5m", "rx_kbps_15m"}
	bandwidthSchema = []string{"slice", "tx_kbps", "rx_kbps", "tx_bytes", "rx_bytes"}
	bwStreamSchema  = []string{"time", "slice", "tx_kbps", "rx_kbps"}
	nodeColumns     = []string{"id", "name", "ip", "site"}
	portsSchema     = []string{"proto", "port", "slice", "kind"}
	connectsSchema  = []string{"time", "slice", "proto", "src_ip", "src_port", "dst_ip", "dst_port"}
)

// register builds the table of sensors, in the order / lists them.
func (s *Server) register() {
	s.sensors = map[string]*sensor{}
	for _, sn := range []*sensor{
		s.procSensor("meminfo", meminfoSchema, "memory usage: /proc/meminfo lines counted in kB", s.meminfo),
		s.procSensor("load", loadSchema, "1-minute load average", s.loadavg(0)),
		s.procSensor("load5", load5Schema, "5-minute load average", s.loadavg(1)),
		s.procSensor("uptime", uptimeSchema, "seconds since the node booted", s.uptime),
		s.procSensor("cpus", cpusSchema, "number of CPUs online", s.cpus),
		{name: "slices", kind: Snapshot, schema: join(slicesSchema), snapshot: s.slicesSnapshot,
			desc: "per slice: CPU % of one CPU, memory, tasks, and kbit/s sent and received, averaged over 1, 5 and 15 minutes (like CoMon's slicestat)"},
		{name: "bandwidth", kind: Snapshot, schema: join(bandwidthSchema), snapshot: s.bandwidthSnapshot,
			desc: "/bandwidth/SLICE: the slice's kbit/s over the last sample interval and its byte counters; /bandwidth: every slice"},
		{name: "bandwidth-stream", kind: Stream, schema: join(bwStreamSchema), stream: s.bandwidthStream,
			desc: "/bandwidth-stream/SLICE: one tuple of the slice's kbit/s per sample interval (" + s.cfg.SampleInterval.String() + ")"},
		{name: "nodes", kind: Snapshot, schema: "the columns named in the path, among " + join(nodeColumns), snapshot: s.nodesSnapshot,
			desc: "/nodes/ip/name: the system's nodes, from central, cached (honours ?max-age=N and Cache-Control: max-age=N)"},
		{name: "ports", kind: Snapshot, schema: join(portsSchema), snapshot: s.portsSnapshot,
			desc: "the owner of each port of the node"},
		{name: "connects", kind: Snapshot, schema: join(connectsSchema), snapshot: s.connectsSnapshot,
			desc: "the " + strconv.Itoa(recentConnects) + " most recent connect calls, with their slices"},
		{name: "connects-stream", kind: Stream, schema: join(connectsSchema), stream: s.connectsStream,
			desc: "connect calls with their slices, as they happen"},
		{name: "metrics", kind: Snapshot, schema: "Prometheus text format 0.0.4", snapshot: s.metrics,
			desc: "the node's and the slices' counters for Prometheus"},
	} {
		s.sensors[sn.name] = sn
		s.order = append(s.order, sn)
	}
}

func join(cols []string) string { return strings.Join(cols, ",") }

// indexSensor is /: the list of sensors.
func (s *Server) indexSensor() *sensor {
	return &sensor{name: "", kind: Snapshot, snapshot: func(context.Context, *query) (*answer, error) {
		rows := make([][]string, 0, len(s.order))
		for _, sn := range s.order {
			rows = append(rows, []string{sn.name, sn.kind, sn.schema, sn.desc})
		}
		return csvAnswer(indexSchema, rows), nil
	}}
}

// procSensor is a snapshot sensor of /proc that takes no path: rows
// reads its rows under the /proc root.
func (s *Server) procSensor(name string, schema []string, desc string, rows func() ([][]string, error)) *sensor {
	return &sensor{name: name, kind: Snapshot, schema: join(schema), desc: desc,
		snapshot: func(_ context.Context, q *query) (*answer, error) {
			if err := noPath(name, q); err != nil {
				return nil, err
			}
			r, err := rows()
			if err != nil {
				return nil, err
			}
			return csvAnswer(schema, r), nil
		}}
}

// noPath refuses a path after the name of a sensor that takes none.
func noPath(name string, q *query) error {
	if len(q.rest) > 0 {
		return errorf(http.StatusNotFound, "sensor %s takes no path: GET /%s", name, name)
	}
	return nil
}

func (s *Server) meminfo() ([][]string, error) {
	data, err := procfs.Read(s.cfg.ProcRoot, "meminfo")
	if err != nil {
		return nil, err
	}
	fields, err := procfs.ParseMeminfo(data)
	rows := make([][]string, len(fields))
	for i, f := range fields {
		rows[i] = []string{f.Name, strconv.FormatUint(f.KB, 10)}
	}
	return rows, err
}

// loadavg returns the reader of the i-th load average (0: 1 minute).
func (s *Server) loadavg(i int) func() ([][]string, error) {
	return func() ([][]string, error) {
		data, err := procfs.Read(s.cfg.ProcRoot, "loadavg")
		if err != nil {
			return nil, err
		}
		l, err := procfs.ParseLoadavg(data)
		return [][]string{{l[i]}}, err
	}
}

func (s *Server) uptime() ([][]string, error) {
	data, err := procfs.Read(s.cfg.ProcRoot, "uptime")
	if err != nil {
		return nil, err
	}
	u, err := procfs.ParseUptime(data)
	return [][]string{{u}}, err
}

func (s *Server) cpus() ([][]string, error) {
	data, err := procfs.Read(s.cfg.ProcRoot, "stat")
	if err != nil {
		return nil, err
	}
	n, err := procfs.ParseCPUs(data)
	return [][]string{{strconv.Itoa(n)}}, err
}

// portsSnapshot is /ports.
func (s *Server) portsSnapshot(ctx context.Context, q *query) (*answer, error) {
	if s.cfg.Ports == nil {
		return nil, errNotAvailable("ports")
	}
	if err := noPath("ports", q); err != nil {
		return nil, err
	}
	ports, err := s.cfg.Ports.Ports(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([][]string, 0, len(ports))
	for _, p := range ports {
		rows = append(rows, []string{p.Proto, strconv.Itoa(int(p.Port)), p.Slice, p.Kind})
	}
	return csvAnswer(portsSchema, rows), nil
}

package sensor

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed page.html
var pageHTML string

// pageTemplate is the node's page for a person.
var pageTemplate = sync.OnceValue(func() *template.Template { return template.Must(template.New("page").Parse(pageHTML)) })

// pageCSP lets the page use its own inline styles and nothing else: no
// script, no external resource, no frame.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// htmlType is the page's content type.
const htmlType = "text/html; charset=utf-8"

// pageData is what the page shows.
type pageData struct {
	Now            string
	Load           []string // 1, 5, 15 minutes, or none
	MemUsed        string
	MemTotal       string
	MemPct         string
	Window         string
	LoadPlot       svgPlot
	SlicePlots     []svgPlot
	HasSlices      bool
	SliceHeader    []string
	SliceRows      [][]string
	Sensors        []pageSensor
	SampleInterval string
}

// pageSensor is a sensor as the page lists it.
type pageSensor struct{ Name, Kind, Desc string }

// wantsHTML reports whether the request's Accept names text/html (as a
// browser's does) with a quality above zero; */* does not count, so that
// CSV clients (curl, wget, Go's http.Get) keep getting the CSV list.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		typ, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(typ), "text/html") {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				q, _ = strconv.ParseFloat(v, 64)
			}
		}
		return q > 0
	}
	return false
}

// servePage answers the node's page: headers with the length, and the
// body unless the request is HEAD.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if err := pageTemplate().Execute(&b, s.page(time.Now())); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", htmlType)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// page gathers what the page shows. The plots end at the latest sample
// (now if there is none yet) and go back one History.
func (s *Server) page(now time.Time) *pageData {
	end := s.hist.lastSample()
	if l := s.loads.latest(); l.After(end) {
		end = l
	}
	if end.IsZero() {
		end = now
	}
	start := end.Add(-s.cfg.History)
	d := &pageData{Now: end.Format(time.RFC1123), Window: s.cfg.History.String(),
		SampleInterval: s.cfg.SampleInterval.String(), HasSlices: s.cfg.Slices != nil, SliceHeader: slicesSchema}
	for _, sn := range s.order {
		d.Sensors = append(d.Sensors, pageSensor{Name: sn.name, Kind: sn.kind, Desc: sn.desc})
	}
	if l, err := s.readLoad(); err == nil {
		for _, v := range l {
			d.Load = append(d.Load, strconv.FormatFloat(v, 'f', 2, 64))
		}
	}
	s.pageMemory(d)
	pts := s.loads.since(start.UnixNano())
	times, vals := make([]int64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		times[i], vals[i] = p.t, p.load
	}
	d.LoadPlot = stackPlot("load-plot", "1-minute load average", times, []series{{name: "load1", vals: vals}}, start, end)
	if d.HasSlices {
		ts := s.hist.timeline(start.UnixNano(), pageTopSlices)
		d.SlicePlots = []svgPlot{
			stackPlot("cpu-plot", "CPU, % of one CPU", ts.times, ts.cpu, start, end),
			stackPlot("tx-plot", "sent, kbit/s", ts.times, ts.tx, start, end),
			stackPlot("rx-plot", "received, kbit/s", ts.times, ts.rx, start, end),
		}
		d.SliceRows = s.sliceRows()
	}
	return d
}

// pageMemory fills in the node's memory in use (MemTotal less
// MemAvailable); a node without them shows none.
func (s *Server) pageMemory(d *pageData) {
	rows, err := s.meminfo()
	if err != nil {
		return
	}
	var total, avail int64 = -1, -1
	for _, r := range rows {
		v, _ := strconv.ParseInt(r[1], 10, 64)
		switch r[0] {
		case "MemTotal":
			total = v
		case "MemAvailable":
			avail = v
		}
	}
	if total <= 0 || avail < 0 {
		return
	}
	used := total - avail
	d.MemUsed, d.MemTotal = mib(used), mib(total)
	d.MemPct = strconv.FormatFloat(float64(used)*100/float64(total), 'f', 0, 64)
}

// mib formats kB as MiB.
func mib(kb int64) string { return strconv.FormatInt(kb/1024, 10) + " MiB" }

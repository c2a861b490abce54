package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/svgplot"
)

// plotSeries is one named band of a plot: a value per time of the plot.
type plotSeries struct {
	name string
	vals []float64
}

// svgPlot is a stacked area plot's layout, as the "plot" template draws
// it: the same layout and look as the node sensor page's plots.
type svgPlot struct {
	ID, Title     string
	Width, Height int
	Left, Top     int // plot area's origin
	W, H          int // plot area's size
	Right         int
	LegendX       int
	Layers        []plotLayer
	XTicks        []plotTick
	YTicks        []plotTick
	Empty         bool
}

// plotLayer is one series' band.
type plotLayer struct {
	Name, Color, Points, Last string
	LegendY                   int
	Dots                      []plotTick // its top points, when too few to see as a band
}

// plotDotsBelow is the number of points under which each is also drawn as
// a dot: a band over one or two points is too thin to see.
const plotDotsBelow = 3

// plotTick is one labelled tick of an axis.
type plotTick struct {
	X, Y  float64
	Label string
}

// plotTemplate, made on first use, draws an svgPlot as inline SVG: no script, no style
// attribute, so it passes the portal's Content-Security-Policy.
var plotTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("plot").Parse(`<svg id="{{.ID}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
<text class="title" x="{{.Left}}" y="{{.Top}}" dy="-1">{{.Title}}</text>
<rect x="{{.Left}}" y="{{.Top}}" width="{{.W}}" height="{{.H}}" fill="#fafafa" stroke="#ccc"/>
{{range .YTicks}}<line x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#e4e4e4"/><text x="{{.X}}" y="{{.Y}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.X}}" y="{{.Y}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Layers}}{{$color := .Color}}<polygon class="layer" points="{{.Points}}" fill="{{.Color}}" fill-opacity="0.85"><title>{{.Name}}</title></polygon>
{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="4" fill="{{$color}}"/>{{end}}{{end}}{{range .Layers}}<rect x="{{$.LegendX}}" y="{{.LegendY}}" width="12" height="12" fill="{{.Color}}"/><text x="{{$.LegendX}}" dx="18" y="{{.LegendY}}" dy="10">{{.Name}} {{.Last}}</text>
{{end}}{{if .Empty}}<text x="{{.Left}}" y="{{.Top}}" dx="12" dy="24">no points yet</text>{{end}}
</svg>`))
})

// drawPlot is the portal's one plotting call: series stacked over times
// (Unix nanoseconds, ascending) from start to end, as inline SVG.
func drawPlot(id, title string, times []int64, ss []plotSeries, start, end time.Time) (template.HTML, error) {
	p := svgPlot{ID: id, Title: title, Width: 860, Height: 220, Left: 56, Top: 16, W: 600, H: 170, Empty: len(times) == 0}
	p.Right, p.LegendX = p.Left+p.W, p.Left+p.W+24
	span := float64(end.Sub(start))
	x := func(t int64) float64 { return float64(p.Left) + float64(t-start.UnixNano())/span*float64(p.W) }
	xs := make([]float64, len(times))
	for m, t := range times {
		xs[m] = x(t)
	}
	in := make([]svgplot.Series, len(ss))
	for i, s := range ss {
		if len(s.vals) != len(times) {
			return "", fmt.Errorf("plot %s: series %s has %d values for %d times", id, s.name, len(s.vals), len(times))
		}
		in[i] = svgplot.Series{Name: s.name, Values: s.vals}
	}
	frame := svgplot.Frame{Width: p.Width, Height: p.Height, Left: p.Left, Top: p.Top, W: p.W, H: p.H}
	bands, ymax := svgplot.Stack(frame, xs, in, 1, 18)
	top := make([]float64, len(times)) // the stack's height so far at each time
	for i, b := range bands {
		l := plotLayer{Name: b.Name, Color: b.Color, Points: b.Points, LegendY: b.LegendY}
		for m := range times {
			top[m] += ss[i].vals[m]
			if len(times) < plotDotsBelow {
				l.Dots = append(l.Dots, plotTick{X: xs[m], Y: frame.Y(top[m], ymax)})
			}
		}
		if n := len(times); n > 0 {
			l.Last = strconv.FormatFloat(ss[i].vals[n-1], 'f', 2, 64)
		}
		p.Layers = append(p.Layers, l)
	}
	for i := range 4 {
		t := start.Add(time.Duration(i) * end.Sub(start) / 3)
		p.XTicks = append(p.XTicks, plotTick{X: x(t.UnixNano()), Y: float64(p.Top + p.H), Label: t.UTC().Format("15:04")})
	}
	for _, t := range frame.YTicks(ymax, func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }) {
		p.YTicks = append(p.YTicks, plotTick{X: t.X, Y: t.Y, Label: t.Label})
	}
	var out bytes.Buffer
	if err := plotTemplate().Execute(&out, p); err != nil {
		return "", fmt.Errorf("plot %s: %w", id, err)
	}
	return template.HTML(out.String()), nil
}

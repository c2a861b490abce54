package sensor

import (
	"strconv"
	"time"

	"github.com/orbisproject/orbis/internal/svgplot"
)

// otherSlices names the band of the slices summed beyond the top ones.
const otherSlices = "others"

// series is one named band of a plot: a value per time of the plot's
// times.
type series struct {
	name string
	vals []float64
}

// svgPlot is a stacked area plot of series over time, as the page's
// inline SVG draws it.
type svgPlot struct {
	svgplot.Frame
	ID      string
	Title   string
	Right   int // plot area's right edge
	LegendX int // where the legend starts
	Layers  []plotLayer
	XTicks  []svgplot.Tick
	YTicks  []svgplot.Tick
	Empty   bool
}

// plotLayer is one series' band of a plot, with its latest value.
type plotLayer struct {
	svgplot.Band
	Last string
}

// stackPlot lays out the series, stacked, over times (Unix nanoseconds,
// ascending) on an axis from start to end.
func stackPlot(id, title string, times []int64, ss []series, start, end time.Time) svgPlot {
	p := svgPlot{ID: id, Title: title, Frame: svgplot.Frame{Width: 860, Height: 220, Left: 56, Top: 16, W: 600, H: 170}}
	p.Right, p.LegendX = p.Left+p.W, p.Left+p.W+24
	n := len(times)
	p.Empty = n == 0
	span := float64(end.Sub(start))
	x := func(t int64) float64 {
		return float64(p.Left) + float64(t-start.UnixNano())/span*float64(p.W)
	}
	xs := make([]float64, n)
	for m, t := range times {
		xs[m] = x(t)
	}
	in := make([]svgplot.Series, len(ss))
	for i, s := range ss {
		in[i] = svgplot.Series{Name: s.name, Rest: s.name == otherSlices, Values: s.vals}
	}
	bands, ymax := svgplot.Stack(p.Frame, xs, in, 1, 18)
	for i, b := range bands {
		l := plotLayer{Band: b}
		if n > 0 {
			l.Last = fmtRate(ss[i].vals[n-1])
		}
		p.Layers = append(p.Layers, l)
	}
	for i := range 4 {
		t := start.Add(time.Duration(i) * end.Sub(start) / 3)
		p.XTicks = append(p.XTicks, svgplot.Tick{X: x(t.UnixNano()), Y: float64(p.Bottom()), Label: t.Format("15:04:05")})
	}
	p.YTicks = p.Frame.YTicks(ymax, func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) })
	return p
}

package sensor

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// palette colours the plotted slices (colour-blind friendly, Okabe-Ito,
// as the auditor's page), the last one the other slices summed.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#882255", "#999999"}

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
	ID            string
	Title         string
	Width, Height int
	Left, Top     int // plot area's origin
	W, H          int // plot area's size
	Right         int // plot area's right edge
	LegendX       int // where the legend starts
	Layers        []plotLayer
	XTicks        []plotTick
	YTicks        []plotTick
	Empty         bool
}

// plotLayer is one series' band of a plot.
type plotLayer struct {
	Name    string
	Color   string
	Points  string // the polygon's points
	Last    string // the series' latest value
	LegendY int
}

// plotTick is one labelled tick of an axis, at X or Y.
type plotTick struct {
	X, Y  float64
	Label string
}

// stackPlot lays out the series, stacked, over times (Unix nanoseconds,
// ascending) on an axis from start to end.
func stackPlot(id, title string, times []int64, ss []series, start, end time.Time) svgPlot {
	p := svgPlot{ID: id, Title: title, Width: 860, Height: 220, Left: 56, Top: 16, W: 600, H: 170}
	p.Right, p.LegendX = p.Left+p.W, p.Left+p.W+24
	n := len(times)
	top := 0.0
	for m := range n {
		sum := 0.0
		for _, s := range ss {
			sum += s.vals[m]
		}
		top = max(top, sum)
	}
	p.Empty = n == 0
	ymax := niceMaxFloat(top)
	span := float64(end.Sub(start))
	x := func(t int64) float64 {
		return float64(p.Left) + float64(t-start.UnixNano())/span*float64(p.W)
	}
	y := func(v float64) float64 { return float64(p.Top+p.H) - v/ymax*float64(p.H) }
	base := make([]float64, n)
	for i, s := range ss {
		l := plotLayer{Name: s.name, Color: palette[min(i, len(palette)-1)], LegendY: p.Top + 8 + 18*i}
		if s.name == otherSlices {
			l.Color = palette[len(palette)-1]
		}
		if n > 0 {
			l.Last = fmtRate(s.vals[n-1])
		}
		var b strings.Builder
		next := make([]float64, n)
		for m := range n {
			next[m] = base[m] + s.vals[m]
			writePoint(&b, x(times[m]), y(next[m]))
		}
		for m := n - 1; m >= 0; m-- {
			writePoint(&b, x(times[m]), y(base[m]))
		}
		l.Points = b.String()
		p.Layers = append(p.Layers, l)
		base = next
	}
	for i := range 4 {
		t := start.Add(time.Duration(i) * end.Sub(start) / 3)
		p.XTicks = append(p.XTicks, plotTick{X: x(t.UnixNano()), Y: float64(p.Top + p.H), Label: t.Format("15:04:05")})
	}
	for i := range 5 {
		v := ymax * float64(i) / 4
		p.YTicks = append(p.YTicks, plotTick{X: float64(p.Left), Y: y(v), Label: strconv.FormatFloat(v, 'g', 4, 64)})
	}
	return p
}

func writePoint(b *strings.Builder, x, y float64) {
	b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
	b.WriteByte(',')
	b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	b.WriteByte(' ')
}

// niceMaxFloat rounds v up to four times a step of 1, 2 or 5 times a
// power of ten, so that the axis's quarters are round numbers; it is at
// least 1.
func niceMaxFloat(v float64) float64 {
	if !(v > 1) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if 4*m*p >= v {
			return 4 * m * p
		}
	}
	return v
}

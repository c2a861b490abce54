// Package svgplot lays out the SVG plots of Orbis's pages and benchmark
// figures: one palette, round axis bounds and ticks, linear and log axes,
// and stacked area bands (the traffic auditor's packets by slice, the
// sensors' load, CPU and bandwidth by slice). Drawing stays with the
// callers (HTML templates, the benchmark plotter); this package computes
// where things go.
package svgplot

import (
	"math"
	"strconv"
	"strings"
)

// Palette colours series in order (Okabe-Ito, colour-blind friendly, plus
// a wine red); Grey is for the band that sums every series beyond those
// plotted.
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#882255"}

// Grey colours the summed rest.
const Grey = "#999999"

// Color is the colour of series i; rest marks the summed rest. Series past
// the palette are grey too.
func Color(i int, rest bool) string {
	if rest || i >= len(Palette) {
		return Grey
	}
	return Palette[i]
}

// NiceStep rounds raw up to 1, 2 or 5 times a power of ten (1 if raw is
// not positive).
func NiceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// NiceMax is the top of a y axis from zero that holds v, split in four
// round quarters: four times a NiceStep, at least 1.
func NiceMax(v float64) float64 {
	if !(v > 1) || math.IsInf(v, 0) {
		return 1
	}
	return 4 * NiceStep(v/4)
}

// Tick is one labelled tick of an axis, at (X, Y).
type Tick struct {
	X, Y  float64
	Label string
}

// Frame is a plot's canvas and the plot area inside it, in pixels.
type Frame struct {
	Width, Height int
	Left, Top     int // the plot area's origin
	W, H          int // the plot area's size
}

// Bottom is the plot area's bottom edge, where the x axis is.
func (f Frame) Bottom() int { return f.Top + f.H }

// Y is the pixel row of v on a y axis from 0 at the bottom to ymax at
// the top.
func (f Frame) Y(v, ymax float64) float64 { return float64(f.Bottom()) - v/ymax*float64(f.H) }

// YTicks are five ticks, at quarters of 0 to ymax, on the left edge.
func (f Frame) YTicks(ymax float64, label func(float64) string) []Tick {
	var out []Tick
	for i := range 5 {
		v := ymax * float64(i) / 4
		out = append(out, Tick{X: float64(f.Left), Y: f.Y(v, ymax), Label: label(v)})
	}
	return out
}

// Series is one named band of a stacked plot: a value at each x.
type Series struct {
	Name   string
	Rest   bool // the sum of the series not plotted on their own (grey)
	Values []float64
}

// Band is one series' band of a stacked plot.
type Band struct {
	Name    string
	Color   string
	Points  string // the polygon's points: its top left to right, then its bottom back
	LegendY int    // the row of its legend entry
}

// Stack lays out ss stacked, the first at the bottom, over the pixel
// columns xs (one per value), on a y axis to ymax = NiceMax of the highest
// stack (at least minMax); legend entries are legendStep pixels apart.
func Stack(f Frame, xs []float64, ss []Series, minMax float64, legendStep int) (bands []Band, ymax float64) {
	n := len(xs)
	top := 0.0
	for m := range n {
		sum := 0.0
		for _, s := range ss {
			sum += s.Values[m]
		}
		top = max(top, sum)
	}
	ymax = max(NiceMax(top), minMax)
	base := make([]float64, n)
	for i, s := range ss {
		var b strings.Builder
		next := make([]float64, n)
		for m := range n {
			next[m] = base[m] + s.Values[m]
			writePoint(&b, xs[m], f.Y(next[m], ymax))
		}
		for m := n - 1; m >= 0; m-- {
			writePoint(&b, xs[m], f.Y(base[m], ymax))
		}
		bands = append(bands, Band{Name: s.Name, Color: Color(i, s.Rest), Points: b.String(), LegendY: f.Top + 8 + legendStep*i})
		base = next
	}
	return bands, ymax
}

func writePoint(b *strings.Builder, x, y float64) {
	b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
	b.WriteByte(',')
	b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	b.WriteByte(' ')
}

package audit

import (
	"strconv"
	"strings"
	"time"
)

// palette colours the plotted slices (colour-blind friendly, Okabe-Ito),
// the last one OtherSlices.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"}

// Plot is the stacked area plot of packets per minute by slice, as the
// page's inline SVG draws it.
type Plot struct {
	Width, Height int
	Left, Top     int // plot area's origin
	W, H          int // plot area's size
	Layers        []Layer
	XTicks        []Tick
	YTicks        []Tick
	Empty         bool
}

// Layer is one slice's band of the plot.
type Layer struct {
	Slice   string
	Color   string
	Points  string // the polygon's points
	Total   uint64
	LegendY int
}

// Tick is one labelled tick of an axis, at X or Y.
type Tick struct {
	X, Y  float64
	Label string
}

// plot lays out the series over the minutes.
func plot(series []Series, minutes []time.Time) Plot {
	p := Plot{Width: 860, Height: 260, Left: 64, Top: 12, W: 600, H: 210}
	n := len(minutes)
	cum := make([]uint64, n) // top of the layers so far
	var top uint64
	for _, s := range series {
		for m, v := range s.Packets {
			cum[m] += v
			top = max(top, cum[m])
		}
	}
	p.Empty = top == 0
	ymax := niceMax(top)
	x := func(m int) float64 { return float64(p.Left) + float64(m)*float64(p.W)/float64(max(n-1, 1)) }
	y := func(v uint64) float64 { return float64(p.Top+p.H) - float64(v)*float64(p.H)/float64(ymax) }
	base := make([]uint64, n)
	for i, s := range series {
		l := Layer{Slice: s.Slice, Color: palette[min(i, len(palette)-1)], LegendY: p.Top + 8 + 20*i}
		if s.Slice == OtherSlices {
			l.Color = palette[len(palette)-1]
		}
		var b strings.Builder
		next := make([]uint64, n)
		for m := range n {
			next[m] = base[m] + s.Packets[m]
			l.Total += s.Packets[m]
			writePoint(&b, x(m), y(next[m]))
		}
		for m := n - 1; m >= 0; m-- {
			writePoint(&b, x(m), y(base[m]))
		}
		l.Points = b.String()
		p.Layers = append(p.Layers, l)
		base = next
	}
	for m := 0; m < n; m += 10 {
		p.XTicks = append(p.XTicks, Tick{X: x(m), Y: float64(p.Top + p.H), Label: minutes[m].Format("15:04")})
	}
	for i := range 5 {
		v := ymax * uint64(i) / 4
		p.YTicks = append(p.YTicks, Tick{X: float64(p.Left), Y: y(v), Label: count(v)})
	}
	return p
}

func writePoint(b *strings.Builder, x, y float64) {
	b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
	b.WriteByte(',')
	b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	b.WriteByte(' ')
}

// niceMax rounds v up to four times a step of 1, 2 or 5 times a power of
// ten, so that the axis's quarters are round numbers.
func niceMax(v uint64) uint64 {
	for p := uint64(1); p <= 1e17; p *= 10 {
		for _, m := range []uint64{1, 2, 5} {
			if 4*m*p >= v {
				return 4 * m * p
			}
		}
	}
	return max(v, 4)
}

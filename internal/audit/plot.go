package audit

import (
	"time"

	"github.com/orbisproject/orbis/internal/svgplot"
)

// Plot is the stacked area plot of packets per minute by slice, as the
// page's inline SVG draws it.
type Plot struct {
	svgplot.Frame
	Layers []Layer
	XTicks []svgplot.Tick
	YTicks []svgplot.Tick
	Empty  bool
}

// Layer is one slice's band of the plot, with its packets in the hour.
type Layer struct {
	svgplot.Band
	Total uint64
}

// plot lays out the series over the minutes; the y axis is at least 0 to
// 4 packets, so that its quarters are whole.
func plot(series []Series, minutes []time.Time) Plot {
	p := Plot{Frame: svgplot.Frame{Width: 860, Height: 260, Left: 64, Top: 12, W: 600, H: 210}}
	n := len(minutes)
	xs := make([]float64, n)
	for m := range n {
		xs[m] = float64(p.Left) + float64(m)*float64(p.W)/float64(max(n-1, 1))
	}
	ss := make([]svgplot.Series, len(series))
	for i, s := range series {
		ss[i] = svgplot.Series{Name: s.Slice, Rest: s.Slice == OtherSlices, Values: make([]float64, n)}
		for m, v := range s.Packets {
			ss[i].Values[m] = float64(v)
		}
	}
	bands, ymax := svgplot.Stack(p.Frame, xs, ss, 4, 20)
	p.Empty = true
	for i, b := range bands {
		var total uint64
		for _, v := range series[i].Packets {
			total += v
		}
		p.Layers = append(p.Layers, Layer{Band: b, Total: total})
		p.Empty = p.Empty && total == 0
	}
	for m := 0; m < n; m += 10 {
		p.XTicks = append(p.XTicks, svgplot.Tick{X: xs[m], Y: float64(p.Bottom()), Label: minutes[m].Format("15:04")})
	}
	p.YTicks = p.Frame.YTicks(ymax, func(v float64) string { return count(uint64(v)) })
	return p
}

package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/internal/svgplot"
)

// palette colours the series, as Orbis's pages do.
var palette = svgplot.Palette

// The canvas and the plot area inside it, in pixels.
const (
	width, height = 640, 360
	left, right   = 80, 620
	top, bottom   = 64, 300
)

// canvas collects the SVG's elements.
type canvas struct{ b strings.Builder }

func (cv *canvas) f(format string, args ...any) { fmt.Fprintf(&cv.b, format+"\n", args...) }

// text writes s at (x, y) with the given anchor and font size.
func (cv *canvas) text(x, y float64, anchor string, size int, attrs, s string) {
	cv.f(`<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d"%s>%s</text>`, x, y, anchor, size, attrs, esc(s))
}

// esc escapes s for XML character data or an attribute.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// drawChart writes c as a 640×360 SVG to w.
func drawChart(w io.Writer, c *chart) error {
	var cv canvas
	cv.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`, width, height, width, height)
	cv.f(`<title>%s</title>`, esc(c.Title))
	cv.f(`<rect width="%d" height="%d" fill="#ffffff"/>`, width, height)
	cv.text(16, 26, "start", 16, ` font-weight="bold" fill="#222"`, c.Title)
	drawLegend(&cv, c.Series)
	y := svgplot.NewAxis(yValues(c), c.YLog, true, 1, c.YRange, bottom, top)
	drawYAxis(&cv, y, c.YLabel)
	if c.Kind == "bar" {
		drawBars(&cv, c, y)
	} else {
		drawLines(&cv, c, y)
	}
	drawRefs(&cv, c, y)
	cv.f(`</svg>`)
	_, err := io.WriteString(w, cv.b.String())
	return err
}

// yValues are every plotted y, reference lines and points included.
func yValues(c *chart) []float64 {
	var vals []float64
	for _, rw := range c.Rows {
		for i := range rw.Y {
			vals = append(vals, c.plotted(rw, i))
		}
	}
	for _, h := range c.HLines {
		vals = append(vals, h.Y)
	}
	for _, p := range c.Points {
		vals = append(vals, p.Y)
	}
	return vals
}

// drawLegend writes the series' names in a row under the title.
func drawLegend(cv *canvas, series []string) {
	x := float64(left)
	for i, s := range series {
		cv.f(`<rect x="%.1f" y="38" width="12" height="12" fill="%s"/>`, x, palette[i])
		cv.text(x+17, 48.5, "start", 12, ` fill="#222"`, s)
		x += 17 + 7*float64(len(s)) + 22
	}
}

// drawYAxis writes the y svgplot.Axis's grid lines, tick labels and label.
func drawYAxis(cv *canvas, y svgplot.Axis, label string) {
	for _, t := range y.Ticks() {
		py := y.Px(t)
		cv.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`, left, py, right, py)
		cv.text(left-6, py+4, "end", 11, ` fill="#333"`, fmtNum(t))
	}
	cv.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, left, top, left, bottom)
	cv.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, left, bottom, right, bottom)
	mid := float64(top+bottom) / 2
	cv.f(`<text x="18" y="%.1f" text-anchor="middle" font-size="12" fill="#222" transform="rotate(-90 18 %.1f)">%s</text>`, mid, mid, esc(label))
}

// drawBars writes a group of bars per row (category), one per series,
// each labelled with its value.
func drawBars(cv *canvas, c *chart, y svgplot.Axis) {
	band := float64(right-left) / float64(len(c.Rows))
	bw := band * 0.8 / float64(len(c.Series))
	base := y.Px(max(y.Lo, 0))
	for r, rw := range c.Rows {
		x0 := float64(left) + band*float64(r) + band*0.1
		for i := range c.Series {
			v := c.plotted(rw, i)
			if math.IsNaN(v) {
				continue
			}
			x, py := x0+bw*float64(i), y.Px(v)
			cv.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
				x+1, py, bw-2, base-py, palette[i], esc(c.Series[i]), fmtNum(v))
			cv.text(x+bw/2, py-4, "middle", 10, ` fill="#222"`, fmtNum(v))
		}
		cv.text(float64(left)+band*(float64(r)+0.5), bottom+18, "middle", 12, ` fill="#222"`, rw.Label)
	}
}

// drawLines writes, per series, a marker for every figure (every run) and
// a line through the median at each x.
func drawLines(cv *canvas, c *chart, y svgplot.Axis) {
	var xs []float64
	for _, rw := range c.Rows {
		xs = append(xs, rw.X)
	}
	for _, p := range c.Points {
		xs = append(xs, p.X)
	}
	x := svgplot.NewAxis(xs, c.XLog, false, 2, [2]float64{}, left, right)
	for _, t := range x.Ticks() {
		px := x.Px(t)
		cv.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`, px, bottom, px, bottom+5)
		cv.text(px, bottom+18, "middle", 11, ` fill="#333"`, fmtNum(t))
	}
	cv.text(float64(left+right)/2, bottom+42, "middle", 12, ` fill="#222"`, c.XLabel)
	for i, s := range c.Series {
		var pts []string
		for _, m := range medians(c, i) {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.Px(m[0]), y.Px(m[1])))
		}
		cv.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), palette[i])
		for _, rw := range c.Rows {
			if v := c.plotted(rw, i); !math.IsNaN(v) {
				cv.f(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s at %s</title></circle>`,
					x.Px(rw.X), y.Px(v), palette[i], esc(s), fmtNum(v), fmtNum(rw.X))
			}
		}
	}
	for _, p := range c.Points {
		px, py := x.Px(p.X), y.Px(p.Y)
		cv.f(`<path d="M%.1f %.1fl6 6l-6 6l-6 -6z" fill="#222"/>`, px, py-6)
		cv.text(px-10, py+4, "end", 11, ` fill="#222"`, p.Label)
	}
}

// medians are the (x, median plotted y) of series i, in x order.
func medians(c *chart, i int) [][2]float64 {
	byX := map[float64][]float64{}
	var xs []float64
	for _, rw := range c.Rows {
		v := c.plotted(rw, i)
		if math.IsNaN(v) {
			continue
		}
		if _, ok := byX[rw.X]; !ok {
			xs = append(xs, rw.X)
		}
		byX[rw.X] = append(byX[rw.X], v)
	}
	slices.Sort(xs)
	var out [][2]float64
	for _, x := range xs {
		vs := byX[x]
		slices.Sort(vs)
		m := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			m = (vs[len(vs)/2-1] + m) / 2
		}
		out = append(out, [2]float64{x, m})
	}
	return out
}

// drawRefs writes the dashed reference lines with their labels.
func drawRefs(cv *canvas, c *chart, y svgplot.Axis) {
	for _, h := range c.HLines {
		py := y.Px(h.Y)
		cv.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" stroke-dasharray="6 4"/>`, left, py, right, py)
		cv.text(right-4, py-5, "end", 11, ` fill="#555"`, h.Label)
	}
}

package main

import (
	"math"
	"strconv"
	"strings"
)

// axis maps values in [lo, hi], linearly or on a log scale, to pixels in
// [p0, p1].
type axis struct {
	lo, hi float64
	log    bool
	p0, p1 float64
}

// px is v's pixel coordinate.
func (a axis) px(v float64) float64 {
	t := (v - a.lo) / (a.hi - a.lo)
	if a.log {
		t = (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return a.p0 + t*(a.p1-a.p0)
}

// newAxis fits an axis to vals: on a log scale, from and to powers of
// ten, or padded by a factor pad (> 1) on each side; else round steps from zero, with
// room above the largest value for labels if headroom, unless fixed gives
// the range.
func newAxis(vals []float64, log, headroom bool, pad float64, fixed [2]float64, p0, p1 float64) axis {
	a := axis{log: log, p0: p0, p1: p1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	switch {
	case fixed[1] > fixed[0]:
		a.lo, a.hi = fixed[0], fixed[1]
	case log && pad > 1:
		a.lo, a.hi = lo/pad, hi*pad
	case log:
		a.lo = math.Pow(10, math.Floor(math.Log10(lo/pad)))
		a.hi = math.Pow(10, math.Ceil(math.Log10(hi*pad)))
	default:
		lo = min(lo, 0)
		if headroom {
			hi += (hi - lo) * 0.08
		}
		step := niceStep((hi - lo) / 5)
		a.lo = math.Floor(lo/step) * step
		a.hi = math.Ceil(hi/step) * step
	}
	if a.hi <= a.lo {
		a.hi = a.lo + 1
	}
	return a
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
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

// ticks are the labelled values of the axis: powers of ten on a log
// scale, round steps otherwise.
func (a axis) ticks() []float64 {
	var out []float64
	if a.log {
		for e := math.Ceil(math.Log10(a.lo) - 1e-9); e <= math.Log10(a.hi)+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := a.lo; v <= a.hi+step*1e-6; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// fmtNum writes v as BENCHMARKS.md does: at most six significant digits,
// thousands of whole numbers separated by commas.
func fmtNum(v float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	if math.Abs(r) < 1000 || r != math.Trunc(r) {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	s := strconv.FormatInt(int64(math.Abs(r)), 10)
	var b strings.Builder
	if r < 0 {
		b.WriteByte('-')
	}
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

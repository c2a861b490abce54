package svgplot

import "math"

// Axis maps values in [Lo, Hi], linearly or on a log scale, to pixels in
// [P0, P1].
type Axis struct {
	Lo, Hi float64
	Log    bool
	P0, P1 float64
}

// Px is v's pixel coordinate.
func (a Axis) Px(v float64) float64 {
	t := (v - a.Lo) / (a.Hi - a.Lo)
	if a.Log {
		t = (math.Log10(v) - math.Log10(a.Lo)) / (math.Log10(a.Hi) - math.Log10(a.Lo))
	}
	return a.P0 + t*(a.P1-a.P0)
}

// NewAxis fits an axis from p0 to p1 to vals (NaN skipped): on a log
// scale, padded by a factor pad (> 1) on each side, or from and to powers
// of ten; else round steps from zero, with room above the largest value
// for labels if headroom; unless fixed gives the range (fixed[1] >
// fixed[0]).
func NewAxis(vals []float64, log, headroom bool, pad float64, fixed [2]float64, p0, p1 float64) Axis {
	a := Axis{Log: log, P0: p0, P1: p1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	switch {
	case fixed[1] > fixed[0]:
		a.Lo, a.Hi = fixed[0], fixed[1]
	case log && pad > 1:
		a.Lo, a.Hi = lo/pad, hi*pad
	case log:
		a.Lo = math.Pow(10, math.Floor(math.Log10(lo/pad)))
		a.Hi = math.Pow(10, math.Ceil(math.Log10(hi*pad)))
	default:
		lo = min(lo, 0)
		if headroom {
			hi += (hi - lo) * 0.08
		}
		step := NiceStep((hi - lo) / 5)
		a.Lo = math.Floor(lo/step) * step
		a.Hi = math.Ceil(hi/step) * step
	}
	if a.Hi <= a.Lo {
		a.Hi = a.Lo + 1
	}
	return a
}

// Ticks are the labelled values of the axis: powers of ten on a log
// scale, round steps otherwise.
func (a Axis) Ticks() []float64 {
	var out []float64
	if a.Log {
		for e := math.Ceil(math.Log10(a.Lo) - 1e-9); e <= math.Log10(a.Hi)+1e-9; e++ {
			out = append(out, math.Pow(10, e))
		}
		return out
	}
	step := NiceStep((a.Hi - a.Lo) / 5)
	for v := a.Lo; v <= a.Hi+step*1e-6; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

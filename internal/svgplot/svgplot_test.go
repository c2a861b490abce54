package svgplot

import (
	"math"
	"strings"
	"testing"
)

func TestNiceStepAndMax(t *testing.T) {
	for raw, want := range map[float64]float64{0: 1, -3: 1, 0.3: 0.5, 1: 1, 1.2: 2, 3: 5, 7: 10, 10: 10, 10.5: 20, 120: 200} {
		if got := NiceStep(raw); math.Abs(got-want) > 1e-9 {
			t.Errorf("NiceStep(%v) = %v, want %v", raw, got, want)
		}
	}
	// NiceMax splits in four round quarters; for packet counts above 4 it
	// is what the auditor's integer rounding gave (4, 8, 20, 40, 80...).
	for v, want := range map[float64]float64{0: 1, 1: 1, 1.5: 2, 3: 4, 5: 8, 8: 8, 9: 20, 40: 40, 41: 80, 1e6: 2e6, math.Inf(1): 1, math.NaN(): 1} {
		if got := NiceMax(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("NiceMax(%v) = %v, want %v", v, got, want)
		}
	}
}

func TestColor(t *testing.T) {
	if Color(0, false) != Palette[0] || Color(7, false) != Palette[7] || Color(8, false) != Grey || Color(2, true) != Grey {
		t.Error("Color: want the palette in order, grey for the rest and past the palette")
	}
}

// TestStack: bands stack, the first at the bottom; the axis tops the
// highest stack with a round number; points run along the top then back
// along the bottom.
func TestStack(t *testing.T) {
	f := Frame{Width: 200, Height: 120, Left: 10, Top: 10, W: 100, H: 100}
	bands, ymax := Stack(f, []float64{10, 110}, []Series{{Name: "a", Values: []float64{1, 3}}, {Name: "rest", Rest: true, Values: []float64{1, 3}}}, 1, 20)
	if ymax != 8 {
		t.Fatalf("ymax = %v, want 8 (the highest stack 6, rounded)", ymax)
	}
	if len(bands) != 2 || bands[0].Color != Palette[0] || bands[1].Color != Grey || bands[1].LegendY != 38 {
		t.Fatalf("bands = %+v", bands)
	}
	// a: top at 1 and 3 (y 97.5, 72.5), bottom at 0 (y 110).
	if got, want := strings.TrimSpace(bands[0].Points), "10.0,97.5 110.0,72.5 110.0,110.0 10.0,110.0"; got != want {
		t.Errorf("band a = %q, want %q", got, want)
	}
	// rest: from a's top to 2 and 6 (y 85, 35).
	if got, want := strings.TrimSpace(bands[1].Points), "10.0,85.0 110.0,35.0 110.0,72.5 10.0,97.5"; got != want {
		t.Errorf("band rest = %q, want %q", got, want)
	}
	if _, ymax := Stack(f, nil, nil, 4, 20); ymax != 4 {
		t.Errorf("empty plot's ymax = %v, want the minimum 4", ymax)
	}
	ticks := f.YTicks(8, func(v float64) string { return strings.Repeat("|", int(v)) })
	if len(ticks) != 5 || ticks[0].Y != 110 || ticks[4].Y != 10 || ticks[2].Label != "||||" {
		t.Errorf("YTicks = %+v", ticks)
	}
}

func TestAxis(t *testing.T) {
	a := NewAxis([]float64{16.3, 79.3, 50}, false, true, 1, [2]float64{}, 300, 64)
	if a.Lo != 0 || a.Hi != 100 {
		t.Errorf("linear axis %v to %v, want 0 to 100", a.Lo, a.Hi)
	}
	if a.Px(0) != 300 || a.Px(100) != 64 {
		t.Errorf("linear axis maps 0, 100 to %v, %v; want 300, 64", a.Px(0), a.Px(100))
	}
	l := NewAxis([]float64{0.02, 228}, true, true, 1, [2]float64{}, 300, 64)
	if got := l.Ticks(); len(got) != 6 || got[0] != 0.01 || math.Abs(got[5]-1000) > 1e-9 {
		t.Errorf("log ticks %v, want 0.01 to 1000", got)
	}
	if fx := NewAxis([]float64{5}, false, false, 1, [2]float64{0, 50}, 0, 100); fx.Lo != 0 || fx.Hi != 50 {
		t.Errorf("fixed axis %v to %v, want 0 to 50", fx.Lo, fx.Hi)
	}
}

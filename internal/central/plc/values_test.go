package plc

import (
	"math"
	"testing"
)

// TestAsInt: integers of either codec are taken; a float (JSON's only
// number) only when it is a whole number held exactly, never truncated.
func TestAsInt(t *testing.T) {
	for _, c := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(42), 42, true},
		{7, 7, true},
		{int32(-3), -3, true},
		{float64(1700000000), 1700000000, true},
		{-5.0, -5, true},
		{1.5, 0, false},
		{math.Pow(2, 53), 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{"42", 0, false},
		{nil, 0, false},
		{true, 0, false},
	} {
		got, ok := AsInt(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("AsInt(%#v) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

package main

import (
	"math"
	"strconv"
	"strings"
)

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

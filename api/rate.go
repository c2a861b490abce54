package api

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseRate reads a rate as tc writes them, "100mbit", "500kbit", "1gbit",
// "64000bit" (bits per second, SI prefixes), into kbit/s.
func ParseRate(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		bits   int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f <= 0 || f*float64(u.bits) > 1e12 {
			return 0, fmt.Errorf("rate %q: want a positive number and a unit, e.g. 100mbit", s)
		}
		kbit := int64(f * float64(u.bits) / 1000)
		if kbit < 1 {
			return 0, fmt.Errorf("rate %q: under 1kbit", s)
		}
		return kbit, nil
	}
	return 0, fmt.Errorf("rate %q: want a unit: bit, kbit, mbit or gbit (e.g. 100mbit)", s)
}

// FormatRate writes kbit/s the way ParseRate reads it.
func FormatRate(kbit int64) string {
	switch {
	case kbit%1e6 == 0:
		return fmt.Sprintf("%dgbit", kbit/1e6)
	case kbit%1e3 == 0:
		return fmt.Sprintf("%dmbit", kbit/1e3)
	}
	return fmt.Sprintf("%dkbit", kbit)
}

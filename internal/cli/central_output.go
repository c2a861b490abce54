package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Output of the central verbs: aligned tables, "key: value" records, and
// JSON; and the parsing of field values and dates.

// writeJSON prints v as indented JSON; a nil slice prints as [].
func writeJSON(w io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []any{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable prints rows under header, aligned in columns.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// timeFields are the record fields that hold Unix seconds.
var timeFields = map[string]bool{
	"date_created": true, "last_updated": true, "created": true, "expires": true,
	"last_contact": true, "updated": true, "t_from": true, "t_until": true,
}

// writeRecord prints a record's fields as aligned "name: value" lines, in
// the order of its struct, then the extra lines (names, states) that a
// command resolved for it.
func writeRecord(w io.Writer, rec any, extra [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	rv := reflect.Indirect(reflect.ValueOf(rec))
	rt := rv.Type()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", name, fieldText(name, rv.Field(i)))
	}
	for _, e := range extra {
		fmt.Fprintf(tw, "%s:\t%s\n", e[0], e[1])
	}
	return tw.Flush()
}

// fieldText formats one field's value for writeRecord.
func fieldText(name string, v reflect.Value) string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return fieldText(name, v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fieldText(name, v.Index(i))
		}
		return strings.Join(parts, ", ")
	case reflect.Int64, reflect.Int:
		if timeFields[name] {
			return formatTime(v.Int())
		}
	case reflect.String:
		return strings.ReplaceAll(v.String(), "\n", " ")
	}
	return fmt.Sprint(v.Interface())
}

// formatTime shows Unix seconds as a local date and time ("never" for 0).
func formatTime(sec int64) string {
	if sec == 0 {
		return "never"
	}
	return time.Unix(sec, 0).Local().Format("2006-01-02 15:04 MST")
}

// formatAgo shows Unix seconds as a time relative to now ("5m ago").
func formatAgo(sec int64, now time.Time) string {
	if sec == 0 {
		return "never"
	}
	d := now.Sub(time.Unix(sec, 0)).Round(time.Second)
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// yesNo shows a flag in a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDash shows "-" for an empty table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// convertField parses a flag's text into the field's kind.
func convertField(k fieldKind, s string) (any, error) {
	switch k {
	case kindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("not a whole number")
		}
		return n, nil
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errors.New("not a number")
		}
		return f, nil
	case kindDate:
		return parseWhen(s, time.Now())
	}
	return s, nil
}

// parseWhen parses an expiry: a date (2026-12-31, meaning the end of that
// day, UTC), a date and time (2026-12-31T12:00:00Z or "2026-12-31
// 12:00", UTC), or a time from now (+4w, +10d, +36h, +90m), and returns
// Unix seconds.
func parseWhen(s string, now time.Time) (int64, error) {
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		d, err := parseSpan(rest)
		if err != nil {
			return 0, err
		}
		return now.Add(d).Unix(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24*time.Hour - time.Second).Unix(), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("bad date %q: want YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or +N[wdhm] (e.g. +4w)", s)
}

// parseSpan parses "4w", "10d", or a Go duration ("36h", "90m").
func parseSpan(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour}
	if n := len(s); n > 1 {
		if unit, ok := units[s[n-1]]; ok {
			v, err := strconv.ParseUint(s[:n-1], 10, 16)
			if err == nil && v > 0 {
				return time.Duration(v) * unit, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad time span %q: want +N[wdhm] (e.g. +4w, +10d, +36h)", "+"+s)
	}
	return d, nil
}

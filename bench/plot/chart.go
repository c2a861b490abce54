package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// chart is one CSV file of bench/results: its figures, copied from a table
// of BENCHMARKS.md, and the "# key: value" lines above them that say how
// to draw them.
type chart struct {
	Name    string // the file's name without .csv; the SVG's too
	Title   string
	Section string // words of the BENCHMARKS.md heading the figures come from
	Kind    string // "line" (x is a number) or "bar" (x is a category)
	XLabel  string
	YLabel  string
	XLog    bool
	YLog    bool
	YScale  float64    // plotted y = figure × YScale (a change of unit)
	YDivX   float64    // if set, plotted y = figure / (x × YDivX) (a ratio)
	YRange  [2]float64 // fixed y range in plotted units, if YRange[1] > 0
	HLines  []ref      // horizontal reference lines, in plotted units
	Points  []ref      // reference points, in plotted units
	Series  []string   // the columns after the first
	Rows    []row
}

// row is one CSV row: the first column and the figures, NaN where empty.
type row struct {
	Label string
	X     float64
	Y     []float64
}

// ref is a labelled reference line (Y) or point (X, Y).
type ref struct {
	X, Y  float64
	Label string
}

// readCharts reads every *.csv of dir, in name order.
func readCharts(dir string) ([]*chart, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, fmt.Errorf("list results: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("list results: no CSV file in %s", dir)
	}
	var charts []*chart
	for _, p := range paths {
		c, err := readChart(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		charts = append(charts, c)
	}
	return charts, nil
}

// readChart reads one CSV file of figures with its "# key: value" header.
func readChart(path string) (*chart, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &chart{Name: strings.TrimSuffix(filepath.Base(path), ".csv"), Kind: "line", YScale: 1}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "#")
		if !ok {
			continue
		}
		key, val, _ := strings.Cut(line, ":")
		if err := c.setMeta(strings.TrimSpace(key), strings.TrimSpace(val)); err != nil {
			return nil, err
		}
	}
	r := csv.NewReader(strings.NewReader(string(data)))
	r.Comment = '#'
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse csv: %w", err)
	}
	if err := c.setRecords(recs); err != nil {
		return nil, err
	}
	return c, c.check()
}

// setMeta applies one "# key: value" line.
func (c *chart) setMeta(key, val string) error {
	var err error
	switch key {
	case "title":
		c.Title = val
	case "section":
		c.Section = val
	case "kind":
		c.Kind = val
	case "x":
		c.XLabel = val
	case "y":
		c.YLabel = val
	case "xlog":
		c.XLog, err = strconv.ParseBool(val)
	case "ylog":
		c.YLog, err = strconv.ParseBool(val)
	case "yscale":
		c.YScale, err = strconv.ParseFloat(val, 64)
	case "ydivx":
		c.YDivX, err = strconv.ParseFloat(val, 64)
	case "yrange":
		err = parseFloats(val, c.YRange[:])
	case "hline", "point":
		var rf ref
		rf, err = parseRef(val, key == "point")
		if key == "hline" {
			c.HLines = append(c.HLines, rf)
		} else {
			c.Points = append(c.Points, rf)
		}
	case "note":
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	if err != nil {
		return fmt.Errorf("key %s: %w", key, err)
	}
	return nil
}

// parseRef parses "y | label" or, for a point, "x y | label".
func parseRef(val string, point bool) (ref, error) {
	nums, label, _ := strings.Cut(val, "|")
	rf := ref{Label: strings.TrimSpace(label)}
	if point {
		v := make([]float64, 2)
		err := parseFloats(nums, v)
		rf.X, rf.Y = v[0], v[1]
		return rf, err
	}
	v := make([]float64, 1)
	err := parseFloats(nums, v)
	rf.Y = v[0]
	return rf, err
}

// parseFloats parses exactly len(dst) space-separated numbers.
func parseFloats(s string, dst []float64) error {
	f := strings.Fields(s)
	if len(f) != len(dst) {
		return fmt.Errorf("want %d numbers, got %q", len(dst), s)
	}
	for i, w := range f {
		v, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return err
		}
		dst[i] = v
	}
	return nil
}

// setRecords takes the header (series names) and the rows of figures.
func (c *chart) setRecords(recs [][]string) error {
	if len(recs) < 2 {
		return fmt.Errorf("want a header and rows, got %d records", len(recs))
	}
	c.Series = recs[0][1:]
	for _, rec := range recs[1:] {
		rw := row{Label: rec[0], Y: make([]float64, len(rec)-1)}
		if c.Kind == "line" {
			x, err := strconv.ParseFloat(rec[0], 64)
			if err != nil {
				return fmt.Errorf("x of a line chart: %w", err)
			}
			rw.X = x
		}
		for i, cell := range rec[1:] {
			rw.Y[i] = math.NaN()
			if cell == "" {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return fmt.Errorf("figure %q: %w", cell, err)
			}
			rw.Y[i] = v
		}
		c.Rows = append(c.Rows, rw)
	}
	return nil
}

// check rejects a chart that could not be drawn sensibly.
func (c *chart) check() error {
	switch {
	case c.Title == "":
		return fmt.Errorf("no title")
	case c.Section == "":
		return fmt.Errorf("no section")
	case c.Kind != "line" && c.Kind != "bar":
		return fmt.Errorf("kind %q: want line or bar", c.Kind)
	case c.YLabel == "" || (c.Kind == "line" && c.XLabel == ""):
		return fmt.Errorf("an axis has no label")
	case len(c.Series) == 0 || len(c.Series) > len(palette):
		return fmt.Errorf("%d series: want 1 to %d", len(c.Series), len(palette))
	}
	return nil
}

// plotted is a figure in the plotted unit.
func (c *chart) plotted(rw row, i int) float64 {
	y := rw.Y[i] * c.YScale
	if c.YDivX != 0 {
		y /= rw.X * c.YDivX
	}
	return y
}

// figures are the numbers the CSV copies from BENCHMARKS.md: every
// figure, every numeric x, and the reference lines' and points' values.
func (c *chart) figures() []float64 {
	var out []float64
	for _, rw := range c.Rows {
		if c.Kind == "line" {
			out = append(out, rw.X)
		}
		for _, y := range rw.Y {
			if !math.IsNaN(y) {
				out = append(out, y)
			}
		}
	}
	for _, h := range c.HLines {
		out = append(out, h.Y)
	}
	for _, p := range c.Points {
		out = append(out, p.X, p.Y)
	}
	return out
}

// writeChartFile draws c into dir/Name.svg.
func writeChartFile(c *chart, dir string) error {
	f, err := os.Create(filepath.Join(dir, c.Name+".svg"))
	if err != nil {
		return fmt.Errorf("create svg: %w", err)
	}
	err = drawChart(f, c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const (
	resultsDir = "../results"
	svgDir     = "../../docs/bench"
	benchmarks = "../../BENCHMARKS.md"
)

// TestGenerate draws bench/results into a temporary directory and checks
// that every chart is well-formed SVG showing its title and every series.
func TestGenerate(t *testing.T) {
	out := t.TempDir()
	if err := generate(resultsDir, out); err != nil {
		t.Fatal(err)
	}
	charts, err := readCharts(resultsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(out, c.Name+".svg"))
			if err != nil {
				t.Fatal(err)
			}
			root, text := parseSVG(t, data)
			if root != "svg" {
				t.Errorf("root element %q, want svg", root)
			}
			for _, want := range append([]string{c.Title}, c.Series...) {
				if !strings.Contains(text, want) {
					t.Errorf("no text %q in the chart", want)
				}
			}
		})
	}
}

// parseSVG parses data as XML and returns its root element's name and all
// its character data, one string a line.
func parseSVG(t *testing.T, data []byte) (root string, text string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var b strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse svg: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			b.Write(tok)
			b.WriteByte('\n')
		}
	}
	return root, b.String()
}

// TestFiguresInBenchmarks checks that every number of every CSV still
// appears in its section of BENCHMARKS.md, and that the section shows the
// chart, so a chart cannot drift from the tables.
func TestFiguresInBenchmarks(t *testing.T) {
	md, err := os.ReadFile(benchmarks)
	if err != nil {
		t.Fatal(err)
	}
	charts, err := readCharts(resultsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		t.Run(c.Name, func(t *testing.T) {
			sec, err := section(string(md), c.Section)
			if err != nil {
				t.Fatal(err)
			}
			if img := "(docs/bench/" + c.Name + ".svg)"; !strings.Contains(sec, img) {
				t.Errorf("section %q does not embed %s", c.Section, img)
			}
			have := numbers(sec)
			for _, f := range c.figures() {
				if !have[f] {
					t.Errorf("%s is not in section %q of BENCHMARKS.md", fmtNum(f), c.Section)
				}
			}
		})
	}
}

// TestSVGsUpToDate checks that docs/bench holds what the generator draws
// from bench/results now: rerun `go run ./bench/plot` after editing a CSV.
func TestSVGsUpToDate(t *testing.T) {
	out := t.TempDir()
	if err := generate(resultsDir, out); err != nil {
		t.Fatal(err)
	}
	fresh, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	kept, _ := filepath.Glob(filepath.Join(svgDir, "*.svg"))
	if len(fresh) != len(kept) {
		t.Errorf("docs/bench has %d SVG files, bench/results makes %d", len(kept), len(fresh))
	}
	for _, f := range fresh {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(svgDir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/bench/%s is stale or missing (err %v): run go run ./bench/plot", filepath.Base(f), err)
		}
	}
}

// section is the text under the one heading of md that contains name, up
// to the next heading of the same or a higher level.
func section(md, name string) (string, error) {
	lines := strings.Split(md, "\n")
	start, level := -1, 0
	for i, l := range lines {
		if strings.HasPrefix(l, "#") && strings.Contains(l, name) {
			if start >= 0 {
				return "", errors.New("more than one heading contains " + strconv.Quote(name))
			}
			start, level = i, len(l)-len(strings.TrimLeft(l, "#"))
		}
	}
	if start < 0 {
		return "", errors.New("no heading contains " + strconv.Quote(name))
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		if h := len(l) - len(strings.TrimLeft(l, "#")); h > 0 && h <= level {
			end = i
			break
		}
	}
	return strings.Join(lines[start:end], "\n"), nil
}

// numberRE matches a number as BENCHMARKS.md writes it: 0.38, 9998,
// 910,052 (a comma then three digits groups thousands).
var numberRE = regexp.MustCompile(`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?`)

// numbers are the values of every number in text.
func numbers(text string) map[float64]bool {
	out := map[float64]bool{}
	for _, m := range numberRE.FindAllString(text, -1) {
		if v, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64); err == nil {
			out[v] = true
		}
	}
	return out
}

func TestNumbers(t *testing.T) {
	got := numbers("| 3.44, 4.22 s | 910,052 / 10,000 | 9101-10000 | 0.30 |")
	for _, v := range []float64{3.44, 4.22, 910052, 10000, 9101, 0.3} {
		if !got[v] {
			t.Errorf("%v not found in %v", v, got)
		}
	}
	if got[52] || got[44] {
		t.Errorf("split a grouped number: %v", got)
	}
}

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{910052: "910,052", 0.1 + 0.2: "0.3", 1500000: "1,500,000", 0.01: "0.01", 79.3: "79.3", 1e3: "1,000"} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}

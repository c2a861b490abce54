// Command plot draws the benchmark figures of bench/results/*.csv as SVG
// charts in docs/bench/, for BENCHMARKS.md to show beside its tables. Each
// CSV copies the numbers of one table (a test checks they still appear in
// BENCHMARKS.md); its "# key: value" lines name the chart's title, the
// section it belongs to, its kind (line or bar) and its axes.
//
//	go run ./bench/plot [-in bench/results] [-out docs/bench]
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("in", "bench/results", "directory of the CSV files")
	out := flag.String("out", "docs/bench", "directory to write the SVG files into")
	flag.Parse()
	if err := generate(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// generate draws every CSV of in as an SVG of the same name in out.
func generate(in, out string) error {
	charts, err := readCharts(in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("make output directory: %w", err)
	}
	for _, c := range charts {
		if err := writeChartFile(c, out); err != nil {
			return fmt.Errorf("chart %s: %w", c.Name, err)
		}
	}
	return nil
}

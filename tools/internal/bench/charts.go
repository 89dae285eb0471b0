package bench

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// scenarioColors keeps one colour per scenario across the charts.
var scenarioColors = map[string]color.Color{
	"seed":       color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"herd":       color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"limit":      color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"seed-limit": color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	"drain":      color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

func colorOf(name string) color.Color {
	if c, ok := scenarioColors[name]; ok {
		return c
	}
	return color.Black
}

// WriteCharts draws the latency distribution, throughput over time and
// consumer lag over time of one run into dir and returns the file names.
// A chart with nothing to show (no HTTP scenario in the run: no latency)
// is left out.
func WriteCharts(dir string, run []*Result) ([]string, error) {
	charts := []struct {
		file string
		draw func([]*Result) (*plot.Plot, error)
	}{
		{"latency.png", latencyChart},
		{"throughput.png", throughputChart},
		{"consumer-lag.png", func(run []*Result) (*plot.Plot, error) {
			return lagChart(run, false, "stock-consumer lag during the HTTP scenarios (250 ms samples)")
		}},
		{"drain-lag.png", func(run []*Result) (*plot.Plot, error) {
			return lagChart(run, true, "stock-consumer draining a backlog written straight to Kafka (250 ms samples)")
		}},
	}
	var files []string
	for _, c := range charts {
		p, err := c.draw(run)
		if err != nil {
			return files, fmt.Errorf("%s: %w", c.file, err)
		}
		if p == nil {
			continue
		}
		path := filepath.Join(dir, c.file)
		if err := p.Save(20*vg.Centimeter, 11*vg.Centimeter, path); err != nil {
			return files, fmt.Errorf("%s: %w", c.file, err)
		}
		files = append(files, path)
	}
	return files, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, scenario, name string, xys plotter.XYs) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = colorOf(scenario)
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// latencyChart: the cumulative distribution of latency, log-scaled so the
// median and the tail both show; nil when no scenario has latencies (a log
// axis needs a positive range).
func latencyChart(run []*Result) (*plot.Plot, error) {
	p := newPlot("Latency distribution (client side, through nginx)", "latency (ms, log scale)", "share of requests answered (%)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Left = true
	lowest := math.Inf(1)
	for _, r := range run {
		if len(r.LatencyCDF) == 0 {
			continue
		}
		var xys plotter.XYs
		for _, pt := range r.LatencyCDF {
			x := max(pt.T, 0.01)
			lowest = min(lowest, x)
			xys = append(xys, plotter.XY{X: x, Y: pt.V})
		}
		if err := addLine(p, r.Scenario, fmt.Sprintf("%s (p99 %.1f ms)", r.Scenario, ms(r.P99)), xys); err != nil {
			return nil, err
		}
	}
	if math.IsInf(lowest, 1) {
		return nil, nil
	}
	p.Y.Min, p.Y.Max = 0, 100
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lowest)))
	return p, nil
}

func throughputChart(run []*Result) (*plot.Plot, error) {
	p := newPlot("Answers per second (500 ms buckets; 100 ms for sub-3 s scenarios)", "seconds since the first request", "answers/s")
	for _, r := range run {
		if r.Direct {
			continue
		}
		// Five 100 ms buckets per point: the raw series is too jagged to read.
		// Sub-second scenarios (the seed) keep their 100 ms buckets.
		step := 5
		if len(r.RateSeries) < 30 {
			step = 1
		}
		var xys plotter.XYs
		for i := 0; i < len(r.RateSeries); i += step {
			sum, n := 0.0, 0
			for _, pt := range r.RateSeries[i:min(i+step, len(r.RateSeries))] {
				sum += pt.V
				n++
			}
			xys = append(xys, plotter.XY{X: r.RateSeries[i].T - 0.05 + float64(n)*0.05, Y: sum / float64(n)})
		}
		if err := addLine(p, r.Scenario, fmt.Sprintf("%s (%.0f/s overall)", r.Scenario, r.Throughput), xys); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	return p, nil
}

// lagChart plots the consumer's lag (solid) and its decisions so far
// (dashed) for the HTTP event scenarios, or for the drain.
func lagChart(run []*Result, direct bool, title string) (*plot.Plot, error) {
	p := newPlot(title, "seconds since the first request", "messages")
	for _, r := range run {
		if len(r.LagSeries) == 0 || r.Bare || r.Direct != direct {
			continue
		}
		var xys plotter.XYs
		for _, pt := range r.LagSeries {
			xys = append(xys, plotter.XY{X: pt.T, Y: pt.V})
		}
		if err := addLine(p, r.Scenario, fmt.Sprintf("%s lag (peak %d)", r.Scenario, r.MaxLag), xys); err != nil {
			return nil, err
		}
		if len(r.PersistedSeries) > 0 {
			// Decisions so far on the same axis, dashed: the drain.
			var per plotter.XYs
			for _, pt := range r.PersistedSeries {
				per = append(per, plotter.XY{X: pt.T, Y: pt.V})
			}
			l, err := plotter.NewLine(per)
			if err != nil {
				return nil, err
			}
			l.Color = colorOf(r.Scenario)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(r.Scenario+" decisions (consumer counter)", l)
		}
	}
	p.Y.Min = 0
	return p, nil
}

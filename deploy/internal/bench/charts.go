package bench

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// scenarioColors keeps one colour per scenario across the charts.
var scenarioColors = map[string]color.Color{
	"seed":  color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"herd":  color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"limit": color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

func colorOf(name string) color.Color {
	if c, ok := scenarioColors[name]; ok {
		return c
	}
	return color.Black
}

// WriteCharts draws the latency distribution, throughput over time and
// consumer lag over time of one run into dir and returns the file names.
func WriteCharts(dir string, run []*Result) ([]string, error) {
	charts := []struct {
		file string
		draw func([]*Result) (*plot.Plot, error)
	}{
		{"latency.png", latencyChart},
		{"throughput.png", throughputChart},
		{"consumer-lag.png", lagChart},
	}
	var files []string
	for _, c := range charts {
		p, err := c.draw(run)
		if err != nil {
			return files, fmt.Errorf("%s: %w", c.file, err)
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
	p.Legend.Left = true
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
// median and the tail both show.
func latencyChart(run []*Result) (*plot.Plot, error) {
	p := newPlot("Latency distribution (client side, through nginx)", "latency (ms, log scale)", "share of requests answered (%)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for _, r := range run {
		lat := r.latencies
		if len(lat) == 0 {
			continue
		}
		const points = 400
		var xys plotter.XYs
		for i := 0; i <= points; i++ {
			idx := min(i*(len(lat)-1)/points, len(lat)-1)
			x := max(ms(lat[idx]), 0.01)
			xys = append(xys, plotter.XY{X: x, Y: 100 * float64(idx+1) / float64(len(lat))})
		}
		if err := addLine(p, r.Scenario, fmt.Sprintf("%s (p99 %.1f ms)", r.Scenario, ms(r.P99)), xys); err != nil {
			return nil, err
		}
	}
	p.Y.Min, p.Y.Max = 0, 100
	return p, nil
}

func throughputChart(run []*Result) (*plot.Plot, error) {
	p := newPlot("Answers per second (100 ms buckets)", "seconds since the first request", "answers/s")
	for _, r := range run {
		var xys plotter.XYs
		for _, pt := range r.RateSeries {
			xys = append(xys, plotter.XY{X: pt.T, Y: pt.V})
		}
		if err := addLine(p, r.Scenario, fmt.Sprintf("%s (%.0f/s overall)", r.Scenario, r.Throughput), xys); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	return p, nil
}

func lagChart(run []*Result) (*plot.Plot, error) {
	p := newPlot("stock-consumer lag on farewell.event.applications (250 ms samples)", "seconds since the first request", "messages behind")
	for _, r := range run {
		if len(r.LagSeries) == 0 || r.Scenario == "limit" {
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
			// Persisted decisions on the same axis, dashed: the drain.
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
			p.Legend.Add(r.Scenario+" decisions persisted", l)
		}
	}
	p.Y.Min = 0
	return p, nil
}

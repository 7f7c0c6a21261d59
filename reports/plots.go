package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// The plots' files in the run directory; the page inlines the same bytes.
const (
	PlotLatencyRaw       = "latency-raw.png"
	PlotLatencyByF       = "latency-by-f.png"
	PlotLatencyQuantiles = "latency-quantiles.svg"
	PlotThroughput       = "throughput.svg"
	PlotErrors           = "errors.svg"
	PlotSlotCoverage     = "slot-coverage.svg"
	PlotNodeRoles        = "node-roles.svg"
)

// plotFiles are every plot's file.
var plotFiles = []string{PlotLatencyRaw, PlotLatencyByF, PlotLatencyQuantiles, PlotThroughput, PlotErrors, PlotSlotCoverage, PlotNodeRoles}

// figure is one plot: its file, what it shows, and its bytes (or why it
// could not be drawn).
type figure struct {
	File    string
	Title   string
	Caption string
	Data    []byte
	Err     string
}

// URI is the plot as a data URI, for the page's img src.
func (f figure) URI() template.URL {
	mime := "image/svg+xml"
	if bytes.HasPrefix(f.Data, []byte("\x89PNG")) {
		mime = "image/png"
	}
	return template.URL("data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(f.Data))
}

var (
	sans      = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotW     = 10 * vg.Inch
	plotH     = 3.4 * vg.Inch
	legendW   = 2 * vg.Inch
	scatterDP = 144

	colOK   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colFail = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colInfo = color.RGBA{R: 0xff, G: 0x8c, B: 0x00, A: 0xff}
	// outcomeColors are ok, fail, info.
	outcomeColors = [numOutcomes]color.Color{colOK, colFail, colInfo}
	// palette tells categories (f, error classes, fault kinds) apart.
	palette = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
		{0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
		{0xff, 0x7f, 0x0e, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x39, 0x3b, 0x79, 0xff}, {0x63, 0x79, 0x39, 0xff},
	}
	// faultColors shade fault intervals, one per fault kind.
	// (Not premultiplied: color.RGBA would need its components scaled by alpha.)
	faultColors = []color.NRGBA{
		{0xff, 0x8c, 0x69, 0x48}, {0x9a, 0xcd, 0x32, 0x50}, {0x64, 0xb5, 0xf6, 0x50}, {0xda, 0x70, 0xd6, 0x40},
		{0xf0, 0xd0, 0x40, 0x60}, {0x20, 0xb2, 0xaa, 0x40}, {0xcd, 0x5c, 0x5c, 0x40}, {0x90, 0xa4, 0xbe, 0x60},
	}
	roleColors = map[string]color.RGBA{
		"master":      {0x2c, 0xa0, 0x2c, 0xff},
		"replica":     {0x1f, 0x77, 0xb4, 0xff},
		"failing":     {0xff, 0x8c, 0x00, 0xff},
		"unreachable": {0xd6, 0x27, 0x28, 0xff},
		"unknown":     {0x99, 0x99, 0x99, 0xff},
	}
)

func pal(i int) color.RGBA { return palette[i%len(palette)] }

// chart is a plot with its legend kept beside it rather than over the data.
type chart struct {
	p   *plot.Plot
	leg plot.Legend
	h   vg.Length
}

func newChart(title, ylabel string, end float64) *chart {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 12)
	p.X.Label.Text = "time since the run started (s)"
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 10)
		a.Tick.Label.Font = font.From(sans, 9)
	}
	p.X.Min, p.X.Max = 0, math.Max(end, 1e-3)
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.TextStyle.Font = font.From(sans, 9)
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = 0.25 * vg.Inch
	return &chart{p: p, leg: leg, h: plotH}
}

// render draws the chart as PNG (scatter plots, whose size would grow with
// their points as SVG) or SVG.
func (c *chart) render(png bool) ([]byte, error) {
	var cw vg.CanvasWriterTo
	if png {
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(plotW, c.h), vgimg.UseDPI(scatterDP))}
	} else {
		cw = vgsvg.New(plotW, c.h)
	}
	dc := draw.New(cw)
	c.p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
	c.leg.Draw(draw.Crop(dc, plotW-legendW+0.15*vg.Inch, 0, 0, -0.35*vg.Inch))
	var buf bytes.Buffer
	if _, err := cw.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shading draws the fault intervals as bands across the whole plot.
type shading struct {
	bands []band
}

type band struct {
	from, to float64 // s
	c        color.Color
}

// Plot draws the bands, at least a hairline wide so that instant faults show.
func (s shading) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, b := range s.bands {
		x0, x1 := trX(b.from), trX(b.to)
		if x1-x0 < 1.5 {
			x1 = x0 + 1.5
		}
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(b.c, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// swatch is a legend thumbnail of a filled square.
type swatch struct{ c color.Color }

// Thumbnail fills the thumbnail's box.
func (s swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.c, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// faultBands are the faults as bands, coloured by kind, and the legend
// entries of the kinds.
func faultBands(faults []*fault) (shading, []string, []color.Color) {
	var s shading
	kind := map[string]int{}
	var names []string
	var cols []color.Color
	for _, f := range faults {
		if f.Error != "" || f.Orphan {
			continue
		}
		k, ok := kind[f.F]
		if !ok {
			k = len(names)
			kind[f.F] = k
			names = append(names, f.F)
			cols = append(cols, faultColors[k%len(faultColors)])
		}
		s.bands = append(s.bands, band{from: secs(f.Start), to: secs(f.End), c: faultColors[k%len(faultColors)]})
	}
	return s, names, cols
}

func (c *chart) shade(faults []*fault) {
	s, names, cols := faultBands(faults)
	if len(s.bands) == 0 {
		return
	}
	c.p.Add(s)
	for i, n := range names {
		c.leg.Add("fault: "+cut(n, 22), swatch{cols[i]})
	}
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// plotInput is what the plots are drawn from.
type plotInput struct {
	h      *histScan
	t      *topoScan
	faults []*fault
	end    float64 // s: every time axis runs from 0 to end
}

// drawPlots draws every plot there is data for. A plot that fails (gonum
// panics on some degenerate inputs) becomes a figure with the error, not a
// failed report.
func drawPlots(in plotInput) []figure {
	type maker struct {
		file, title, caption string
		draw                 func(plotInput) (*chart, bool)
	}
	makers := []maker{
		{PlotLatencyRaw, "Latency of every op, by outcome", "Each dot is one op at its invocation time; its height is how long it took (log scale). Blue ok, red fail (certainly not applied), orange info (unknown). Shaded: faults in effect.", latencyRaw},
		{PlotLatencyByF, "Latency of every op, by operation", "As above, coloured by f; the shape is the outcome (● ok, × fail, ▲ info).", latencyByF},
		{PlotLatencyQuantiles, "Latency quantiles over time", "Median, 95th and 99th percentile and maximum of the ops invoked in each time bucket (log scale).", latencyQuantiles},
		{PlotThroughput, "Throughput by outcome", "Ops completed per second in each time bucket, by outcome.", throughput},
		{PlotErrors, "Redirects and cluster errors per second", "MOVED/ASK/TRYAGAIN/CLUSTERDOWN replies the client gave up on, per second, and the MOVED/ASK hops it followed (redirects). Other error classes appear when present; CROSSSLOT replies to the multikey workload's deliberate probes are left out.", errorsPlot},
		{PlotSlotCoverage, "Slot coverage", "Slots served by a master no node flags failing: in the view most nodes share, and in the worst reachable node's view (from topology.jsonl).", slotCoverage},
		{PlotNodeRoles, "Each node's role over time", "Green master, blue replica, orange flagged failing (PFAIL/FAIL) by most other nodes, red did not answer the monitor.", nodeRoles},
	}
	var out []figure
	for _, m := range makers {
		fig := figure{File: m.file, Title: m.title, Caption: m.caption}
		func() {
			defer func() {
				if p := recover(); p != nil {
					fig.Err = fmt.Sprintf("plot failed: %v", p)
				}
			}()
			c, ok := m.draw(in)
			if !ok {
				fig.Title = ""
				return
			}
			b, err := c.render(m.file[len(m.file)-3:] == "png")
			if err != nil {
				fig.Err = err.Error()
				return
			}
			fig.Data = b
			if m.file == PlotLatencyRaw || m.file == PlotLatencyByF {
				fig.Caption += " " + sampleCaption(in.h)
			}
		}()
		if fig.Title != "" {
			out = append(out, fig)
		}
	}
	return out
}

// scatterPoints are the sampled ops plus the slowest of each bucket, which
// sampling must not hide, by outcome.
func scatterPoints(h *histScan) [numOutcomes][]point {
	var out [numOutcomes][]point
	for o := range out {
		seen := map[int64]bool{}
		for _, p := range h.samples[o].pts {
			seen[p.index] = true
			out[o] = append(out[o], p)
		}
		for i := range h.grid.buckets {
			p := h.grid.buckets[i].slowest[o]
			if p.lat > 0 && !seen[p.index] {
				seen[p.index] = true
				out[o] = append(out[o], p)
			}
		}
		sort.Slice(out[o], func(i, j int) bool { return out[o][i].index < out[o][j].index })
	}
	return out
}

func latXYs(ps []point) plotter.XYs {
	xys := make(plotter.XYs, len(ps))
	for i, p := range ps {
		xys[i] = plotter.XY{X: secs(p.t), Y: math.Max(float64(p.lat)/1e6, 1e-3)}
	}
	return xys
}

// logY makes the y axis logarithmic over whole decades around [lo, hi], so
// that it always has labelled ticks.
func logY(p *plot.Plot, lo, hi float64) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lo, hi = math.Max(lo, 1e-3), math.Max(hi, 1e-3)
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.Y.Max <= p.Y.Min*10 {
		p.Y.Max = p.Y.Min * 100
	}
}

// latRange is the smallest and largest latency the grid saw, in ms.
func latRange(h *histScan) (float64, float64) {
	lo, hi := math.Inf(1), 0.0
	for i := range h.grid.buckets {
		b := &h.grid.buckets[i]
		if b.timed == 0 {
			continue
		}
		for k, c := range b.hist {
			if c > 0 {
				lo = math.Min(lo, math.Exp2(float64(k)/histPerDoubling)/1e6)
				break
			}
		}
		hi = math.Max(hi, float64(b.maxLat)/1e6)
	}
	if hi == 0 {
		return 1e-3, 1
	}
	return lo, hi
}

func latencyRaw(in plotInput) (*chart, bool) {
	if in.h.completed == 0 {
		return nil, false
	}
	lo, hi := latRange(in.h)
	c := newChart("Latency of every op, by outcome", "latency (ms)", in.end)
	logY(c.p, lo, hi)
	c.shade(in.faults)
	pts := scatterPoints(in.h)
	for o := range pts {
		if len(pts[o]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(latXYs(pts[o]))
		if err != nil {
			continue
		}
		s.GlyphStyle = draw.GlyphStyle{Color: outcomeColors[o], Radius: 1.3, Shape: draw.CircleGlyph{}}
		c.p.Add(s)
		c.leg.Add(fmt.Sprintf("%s (%s)", outcomeNames[o], sampledNote(in.h, o)), s)
	}
	return c, true
}

// sampleCaption says which ops the scatter plots show.
func sampleCaption(h *histScan) string {
	var parts []string
	all := true
	for o := range numOutcomes {
		n := h.counts[o]
		if o == outInfo {
			n -= h.unfinished // never completed: no latency to plot
		}
		if n == 0 {
			continue
		}
		if h.samples[o].shift == 0 {
			parts = append(parts, fmt.Sprintf("all %d %s", n, outcomeNames[o]))
			continue
		}
		all = false
		parts = append(parts, fmt.Sprintf("%d of %d %s (1 in %d, picked by a hash of the record index)", len(h.samples[o].pts), n, outcomeNames[o], 1<<h.samples[o].shift))
	}
	if len(parts) == 0 {
		return ""
	}
	s := "Shown: " + strings.Join(parts, "; ")
	if !all {
		s += "; plus the slowest op of each outcome in every time bucket"
	}
	return s + "."
}

// sampledNote says how many of an outcome's ops the scatter shows.
func sampledNote(h *histScan, o int) string {
	if h.samples[o].shift == 0 {
		return "all"
	}
	return fmt.Sprintf("1 in %d", 1<<h.samples[o].shift)
}

var outcomeShapes = [numOutcomes]draw.GlyphDrawer{draw.CircleGlyph{}, draw.CrossGlyph{}, draw.TriangleGlyph{}}

func latencyByF(in plotInput) (*chart, bool) {
	if in.h.completed == 0 {
		return nil, false
	}
	lo, hi := latRange(in.h)
	c := newChart("Latency of every op, by operation", "latency (ms)", in.end)
	logY(c.p, lo, hi)
	c.shade(in.faults)
	pts := scatterPoints(in.h)
	for fi, f := range in.h.fs {
		shown := false
		for o := range pts {
			var sel []point
			for _, p := range pts[o] {
				if int(p.f) == fi {
					sel = append(sel, p)
				}
			}
			if len(sel) == 0 {
				continue
			}
			s, err := plotter.NewScatter(latXYs(sel))
			if err != nil {
				continue
			}
			s.GlyphStyle = draw.GlyphStyle{Color: pal(fi), Radius: 1.4, Shape: outcomeShapes[o]}
			c.p.Add(s)
			if !shown {
				shown = true
				c.leg.Add(cut(f, 24), glyphSwatch{draw.GlyphStyle{Color: pal(fi), Radius: 2.5, Shape: draw.CircleGlyph{}}})
			}
		}
	}
	for o := range numOutcomes {
		c.leg.Add(outcomeNames[o], glyphSwatch{draw.GlyphStyle{Color: color.Gray{Y: 0x60}, Radius: 2.5, Shape: outcomeShapes[o]}})
	}
	return c, true
}

// glyphSwatch is a legend thumbnail of one glyph.
type glyphSwatch struct{ g draw.GlyphStyle }

// Thumbnail draws the glyph in the thumbnail's middle.
func (s glyphSwatch) Thumbnail(c *draw.Canvas) { c.DrawGlyph(s.g, c.Center()) }

func line(xys plotter.XYs, col color.Color, width vg.Length, dashed bool) *plotter.Line {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil
	}
	l.LineStyle.Color = col
	l.LineStyle.Width = width
	if dashed {
		l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
	}
	return l
}

// bucketMid is the middle of bucket i, in s.
func bucketMid(g *timeGrid, i int) float64 { return secs(int64(i)*g.width + g.width/2) }

func latencyQuantiles(in plotInput) (*chart, bool) {
	if in.h.completed == 0 {
		return nil, false
	}
	lo, hi := latRange(in.h)
	c := newChart("Latency quantiles over time", "latency (ms)", in.end)
	logY(c.p, lo, hi)
	c.shade(in.faults)
	qs := []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}, {"max", 1}}
	g := &in.h.grid
	for k, q := range qs {
		var xys plotter.XYs
		for i := range g.buckets {
			b := &g.buckets[i]
			if b.timed == 0 {
				continue
			}
			v := float64(b.maxLat)
			if q.q < 1 {
				v = b.hist.quantile(b.timed, q.q)
			}
			xys = append(xys, plotter.XY{X: bucketMid(g, i), Y: math.Max(v/1e6, 1e-3)})
		}
		if l := line(xys, pal([]int{0, 1, 8, 9}[k]), 1.2, q.q == 1); l != nil && len(xys) > 0 {
			c.p.Add(l)
			c.leg.Add(q.name, l)
		}
	}
	return c, true
}

// maxRatePoints bounds the points of the rate plots: the grid's finer
// buckets make them too noisy to read.
const maxRatePoints = 120

// rateBuckets are the grid's buckets merged pairwise (counts only) until
// at most maxRatePoints remain, and their width.
func rateBuckets(g *timeGrid) ([]bucket, int64) {
	bs := make([]bucket, len(g.buckets))
	for i := range g.buckets {
		b := g.buckets[i]
		b.hist, b.slowest = nil, [numOutcomes]point{}
		bs[i] = b
	}
	w := g.width
	for len(bs) > maxRatePoints {
		n := (len(bs) + 1) / 2
		for i := 0; i < n; i++ {
			b := bs[2*i]
			if 2*i+1 < len(bs) {
				b.merge(&bs[2*i+1])
			}
			bs[i] = b
		}
		bs, w = bs[:n], w*2
	}
	return bs, w
}

func throughput(in plotInput) (*chart, bool) {
	if in.h.completed == 0 {
		return nil, false
	}
	c := newChart("Throughput by outcome", "ops/s", in.end)
	c.p.Y.Min = 0
	c.shade(in.faults)
	bs, width := rateBuckets(&in.h.grid)
	w := secs(width)
	for o := range numOutcomes {
		xys := make(plotter.XYs, len(bs))
		for i := range bs {
			xys[i] = plotter.XY{X: secs(int64(i)*width + width/2), Y: float64(bs[i].done[o]) / w}
		}
		if l := line(xys, outcomeColors[o], 1.2, false); l != nil {
			c.p.Add(l)
			c.leg.Add(outcomeNames[o], l)
		}
	}
	return c, true
}

func errorsPlot(in plotInput) (*chart, bool) {
	if in.h.completed == 0 {
		return nil, false
	}
	c := newChart("Redirects and cluster errors per second", "per second", in.end)
	c.p.Y.Min = 0
	c.shade(in.faults)
	bs, width := rateBuckets(&in.h.grid)
	w := secs(width)
	series := func(name string, col color.Color, dashed bool, v func(b *bucket) int, always bool) {
		xys := make(plotter.XYs, len(bs))
		total := 0
		for i := range bs {
			n := v(&bs[i])
			total += n
			xys[i] = plotter.XY{X: secs(int64(i)*width + width/2), Y: float64(n) / w}
		}
		if total == 0 && !always {
			return
		}
		if l := line(xys, col, 1.2, dashed); l != nil {
			c.p.Add(l)
			c.leg.Add(fmt.Sprintf("%s (%d)", name, total), l)
		}
	}
	k := 0
	for _, class := range checker.ErrorClasses {
		if class == history.KindCrossSlot {
			continue
		}
		idx := errorClassIndex[class]
		always := class == history.KindMoved || class == history.KindAsk || class == history.KindTryAgain || class == history.KindClusterDown
		// More classes than colours: once the palette is used up, the
		// classes repeat its colours dashed.
		series(class, pal(k), k >= len(palette), func(b *bucket) int { return b.errs[idx] }, always)
		k++
	}
	series("redirects followed", color.Black, true, func(b *bucket) int { return b.redirects }, true)
	if c.p.Y.Max < 1 {
		c.p.Y.Max = 1
	}
	return c, true
}

func slotCoverage(in plotInput) (*chart, bool) {
	if in.t == nil || len(in.t.Coverage) == 0 {
		return nil, false
	}
	c := newChart("Slot coverage", "slots with a live master", in.end)
	c.p.Y.Min, c.p.Y.Max = 0, history.NumSlots*1.05
	c.p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 4096, Label: "4096"}, {Value: 8192, Label: "8192"}, {Value: 12288, Label: "12288"}, {Value: 16384, Label: "16384"}})
	c.shade(in.faults)
	var common, worst plotter.XYs
	for _, p := range in.t.Coverage {
		common = append(common, plotter.XY{X: secs(p.T), Y: float64(p.Common)})
		worst = append(worst, plotter.XY{X: secs(p.T), Y: float64(p.Worst)})
	}
	if l := line(worst, colFail, 1.2, true); l != nil {
		l.StepStyle = plotter.PostStep
		c.p.Add(l)
		c.leg.Add("worst node's view", l)
	}
	if l := line(common, colOK, 1.6, false); l != nil {
		l.StepStyle = plotter.PostStep
		c.p.Add(l)
		c.leg.Add("most nodes' view", l)
	}
	return c, true
}

// lanes draws each node's role spans as a horizontal bar.
type lanes struct {
	t   *topoScan
	end float64
}

// Plot draws the bars, one row per node, first node on top.
func (l lanes) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(l.t.Addrs)
	for i, addr := range l.t.Addrs {
		y := float64(n - 1 - i)
		y0, y1 := trY(y-0.32), trY(y+0.32)
		spans := l.t.Lanes[addr]
		for k, s := range spans {
			to := l.end
			if k+1 < len(spans) {
				to = secs(spans[k+1].T)
			} else if l.t.Last != nil {
				to = math.Min(l.end, secs(l.t.Last.Time)+0.25)
			}
			x0, x1 := max(trX(secs(s.T)), c.Min.X), min(trX(to), c.Max.X)
			if x1-x0 < 1 {
				x1 = x0 + 1
			}
			c.FillPolygon(roleColors[laneState(s)], []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		}
	}
}

func laneState(s roleSpan) string {
	switch {
	case s.Role == "unreachable":
		return "unreachable"
	case s.Failing:
		return "failing"
	case s.Role == "master" || s.Role == "replica":
		return s.Role
	}
	return "unknown"
}

func nodeRoles(in plotInput) (*chart, bool) {
	if in.t == nil || len(in.t.Addrs) == 0 {
		return nil, false
	}
	c := newChart("Each node's role over time", "", in.end)
	n := len(in.t.Addrs)
	c.h = max(plotH, vg.Length(n)*0.32*vg.Inch+1.2*vg.Inch)
	c.p.Y.Min, c.p.Y.Max = -0.6, float64(n)-0.4
	var ticks []plot.Tick
	for i, a := range in.t.Addrs {
		ticks = append(ticks, plot.Tick{Value: float64(n - 1 - i), Label: cut(a, 24)})
	}
	c.p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	c.shade(in.faults)
	c.p.Add(lanes{t: in.t, end: in.end})
	for _, r := range []string{"master", "replica", "failing", "unreachable"} {
		c.leg.Add(r, swatch{roleColors[r]})
	}
	return c, true
}

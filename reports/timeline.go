package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redis-harness/harness/checker"
)

// timeline is a small drawing of a few ops, one row per process, a bar
// from each op's invocation to its completion with what it did on it:
// how a witness or an anomaly's ops overlap in time. The template draws
// it as inline SVG; every string in it is escaped there.
type timeline struct {
	Title  string
	Width  int
	Height int
	Rows   []tlRow
	Bars   []tlBar
	Ticks  []tlTick
	Lines  []string // one line per op, under the drawing
	Note   string
	AxisY  int
	PlotX0 int
	PlotX1 int
}

type tlRow struct {
	Label string
	Y     int // the row's text baseline
	LineY int
}

type tlBar struct {
	X, Y, W, H int
	TextX      int
	TextY      int
	Label      string
	Class      string // ok, fail, info
	Tip        string
}

type tlTick struct {
	X     int
	Label string
}

// Layout of a timeline, in SVG pixels.
const (
	tlLeft   = 96  // room for the process labels
	tlPlot   = 720 // the time axis
	tlRight  = 16
	tlRowH   = 30
	tlBarH   = 18
	tlTop    = 8
	tlAxisH  = 26
	maxTLOps = 40 // ops drawn; a longer list is cut, and says so
	maxTL    = 5  // timelines per kind of anomaly in a section
)

// opLabel is what an op did, short enough for its bar.
func opLabel(r checker.OpRef) string {
	v := compactJSON(r.Value, 40)
	switch {
	case r.Error == "cas-mismatch":
		return r.F + " " + v + " ✗"
	case isRead(r.F) && r.Type == "ok":
		return r.F + " → " + v
	}
	return r.F + " " + v
}

// newTimeline lays out refs (ops of any order; drawn by process, then
// time). lines, when given, are the ops' stories, shown under it.
func newTimeline(title string, refs []checker.OpRef, lines []string) timeline {
	tl := timeline{Title: title, Lines: lines, PlotX0: tlLeft, PlotX1: tlLeft + tlPlot}
	if len(refs) > maxTLOps {
		tl.Note = fmt.Sprintf("The first %d of %d ops are drawn.", maxTLOps, len(refs))
		refs = refs[:maxTLOps]
	}
	if len(refs) == 0 {
		return tl
	}
	t0, t1 := refs[0].Time, refs[0].Time
	for _, r := range refs {
		t0 = min(t0, r.Time)
		t1 = max(t1, r.Time, r.End)
	}
	// Ops of unknown outcome run to the right edge, a little past the rest.
	span := max(t1-t0, 1)
	edge := t1 + span/20 + 1
	x := func(t int64) int { return tlLeft + int(float64(t-t0)/float64(edge-t0)*tlPlot) }
	var procs []int
	row := map[int]int{}
	for _, r := range refs {
		if _, ok := row[r.Process]; !ok {
			row[r.Process] = 0
			procs = append(procs, r.Process)
		}
	}
	sort.Ints(procs)
	for i, p := range procs {
		row[p] = i
		y := tlTop + i*tlRowH
		tl.Rows = append(tl.Rows, tlRow{Label: fmt.Sprintf("process %d", p), Y: y + tlBarH/2 + 5, LineY: y + tlBarH/2})
	}
	for _, r := range refs {
		end, class := r.End, "ok"
		switch {
		case r.Type == "info" || end < 0:
			end, class = edge, "info"
		case r.Type == "fail":
			class = "fail"
		}
		bx, bw := x(r.Time), max(x(end)-x(r.Time), 3)
		y := tlTop + row[r.Process]*tlRowH
		label := opLabel(r)
		tip := fmt.Sprintf("%s: %s %s, %s, %s → %s", record(r), r.F, compactJSON(r.Value, 200), r.Type, ts(r.Time), ts(r.End))
		if r.Error != "" {
			tip += " (" + cut(r.Error, 120) + ")"
		}
		tl.Bars = append(tl.Bars, tlBar{X: bx, Y: y, W: bw, H: tlBarH, TextX: bx + 3, TextY: y + tlBarH - 5, Label: label, Class: class, Tip: tip})
	}
	// A label may run past its bar, up to the next bar of its row (a
	// process's ops do not overlap) or the plot's end.
	for i := range tl.Bars {
		b := &tl.Bars[i]
		next := tlLeft + tlPlot + tlRight
		for _, o := range tl.Bars {
			if o.Y == b.Y && o.X > b.X && o.X < next {
				next = o.X
			}
		}
		if room := max((next-b.TextX)/7, 4); len([]rune(b.Label)) > room {
			b.Label = string([]rune(b.Label)[:room-1]) + "…"
		}
	}
	tl.AxisY = tlTop + len(procs)*tlRowH
	for i := 0; i <= 4; i++ {
		t := t0 + (edge-t0)*int64(i)/4
		tl.Ticks = append(tl.Ticks, tlTick{X: x(t), Label: ts(t)})
	}
	tl.Width = tlLeft + tlPlot + tlRight
	tl.Height = tl.AxisY + tlAxisH
	return tl
}

// refsOf collects the non-nil refs.
func refsOf(rs ...*checker.OpRef) []checker.OpRef {
	var out []checker.OpRef
	for _, r := range rs {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// timelineNote says how many of count anomalies got a timeline.
func timelineNote(drawn, count int, what string) string {
	if count <= drawn {
		return ""
	}
	return fmt.Sprintf("Timelines are drawn for the first %d of %d %s.", drawn, count, strings.TrimSpace(what))
}

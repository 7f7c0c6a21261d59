package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/redis-harness/harness/checker"
)

// TestTimeline lays out a witness: a row per process, a bar from invoke to
// completion, an op of unknown outcome running to the plot's end, and
// every text escaped in the drawing.
func TestTimeline(t *testing.T) {
	refs := []checker.OpRef{
		{Index: 10, Complete: 11, Process: 3, Type: "ok", F: "write", Value: int64(2), Time: 1_000_000_000, End: 1_100_000_000},
		{Index: 4, Complete: 7, Process: 1, Type: "ok", F: "write", Value: int64(1), Time: 500_000_000, End: 600_000_000},
		{Index: 12, Complete: 13, Process: 1, Type: "ok", F: "read", Value: "<script>x</script>", Time: 1_200_000_000, End: 1_300_000_000},
		{Index: 14, Complete: -1, Process: 5, Type: "info", F: "write", Value: int64(3), Time: 700_000_000, End: -1},
	}
	tl := newTimeline("the witness", refs, []string{"a <b>story</b>"})
	if len(tl.Rows) != 3 || tl.Rows[0].Label != "process 1" || tl.Rows[2].Label != "process 5" {
		t.Fatalf("rows %+v", tl.Rows)
	}
	if len(tl.Bars) != 4 {
		t.Fatalf("bars %+v", tl.Bars)
	}
	first, info := tl.Bars[1], tl.Bars[3]
	if first.X != tlLeft || first.Class != "ok" || first.Y != tl.Bars[2].Y {
		t.Errorf("the earliest op's bar %+v", first)
	}
	if info.Class != "info" || info.X+info.W != tlLeft+tlPlot {
		t.Errorf("the info op's bar %+v does not run to the end (%d)", info, tlLeft+tlPlot)
	}
	if tl.Bars[0].X <= first.X+first.W || tl.Bars[0].W <= 3 {
		t.Errorf("bars out of time order: %+v then %+v", first, tl.Bars[0])
	}
	var b bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&b, "timeline", tl); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script>") || strings.Contains(out, "<b>") || !strings.Contains(out, "<svg") || strings.Count(out, "<rect") != 4 {
		t.Errorf("drawing:\n%s", out)
	}
}

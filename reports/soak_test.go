package reports

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
)

func TestSoakCode(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{nil, 0}, {[]int{0, 0}, 0}, {[]int{0, 2}, 2}, {[]int{2, 3}, 3}, {[]int{3, 1, 2}, 1},
	} {
		var runs []SoakRun
		for _, c := range tc.codes {
			runs = append(runs, SoakRun{Code: c, Status: SoakValid})
		}
		runs = append(runs, SoakRun{Code: 3, Status: SoakCut}) // never counts
		if tc.codes == nil {
			runs = nil
		}
		if got := SoakCode(runs); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.codes, got, tc.want)
		}
	}
}

func TestSoakRenderingEscapesHostileNames(t *testing.T) {
	store := t.TempDir()
	evil := `<script>alert("x")</script>`
	rec := 1.5
	s := &Soak{
		Started: time.Now(), Args: map[string]string{"images": evil},
		Runs: []SoakRun{
			{N: 1, Scenario: evil, Image: evil + `"onmouseover="x`, Status: SoakInvalid, Code: 1, Dir: `javascript:alert(1)`,
				Unexpected: []string{evil}, Failures: []string{evil}, RecoveryS: &rec, OpsPerSec: 10},
			{N: 2, Scenario: "ok", Status: SoakHarness, Code: 3, Error: "backend: " + evil + " ]]> & <"},
			{N: 3, Scenario: "ok", Status: SoakValid, Code: 0, Dir: "ok/20260101T000000-1"},
		},
	}
	if err := WriteSoak(store, s); err != nil {
		t.Fatal(err)
	}
	h, _ := os.ReadFile(filepath.Join(store, SoakHTML))
	html := string(h)
	if strings.Contains(html, "<script>") || strings.Contains(html, `"onmouseover="`) || strings.Contains(html, `href="javascript:`) {
		t.Errorf("soak.html has unescaped input:\n%s", html)
	}
	for _, want := range []string{"&lt;script&gt;", "Redis lost data", "The harness or the environment failed", `href="ok/20260101T000000-1/index.html"`} {
		if !strings.Contains(html, want) {
			t.Errorf("soak.html lacks %q", want)
		}
	}
	j, _ := os.ReadFile(filepath.Join(store, SoakJUnit))
	var x struct {
		Tests, Failures, Errors int `xml:",attr"`
		Suites                  []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct {
					Text string `xml:",chardata"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(j, &x); err != nil {
		t.Fatalf("soak-junit.xml: %v\n%s", err, j)
	}
	if len(x.Suites) != 2 || x.Suites[0].Name != evil || len(x.Suites[1].Cases) != 2 || x.Suites[1].Cases[0].Error == nil ||
		!strings.Contains(x.Suites[1].Cases[0].Error.Text, "]]> & <") || x.Suites[0].Cases[0].Failure == nil {
		t.Errorf("junit %+v\n%s", x, j)
	}
	if s.Cells[0].RecoveryMaxS == nil || *s.Cells[0].RecoveryMaxS != 1.5 {
		t.Errorf("cells %+v", s.Cells)
	}
}

// TestSoakClientRecovery: a cell's client recovery is the median and max
// over every action of its judged runs, its rate ratio the median and
// min; harness errors and cut runs do not count.
func TestSoakClientRecovery(t *testing.T) {
	s := &Soak{Runs: []SoakRun{
		{Scenario: "kill-master", Status: SoakValid, ClientRecoveryS: []float64{0.1}, RateRatios: []float64{0.8}, MovedS: []float64{3.2}},
		{Scenario: "kill-master", Status: SoakInvalid, Code: 1, ClientRecoveryS: []float64{0.3, 0.02}, RateRatios: []float64{0.5, 1.1}, MovedS: []float64{2.9, 4.1}, ClientNeverRecovered: 1},
		{Scenario: "kill-master", Status: SoakHarness, Code: 3, ClientRecoveryS: []float64{9}, RateRatios: []float64{0.01}, MovedS: []float64{60}},
		{Scenario: "smoke", Status: SoakValid},
	}}
	s.Summarize()
	c := s.Cells[0]
	if c.Scenario != "kill-master" || c.ClientRecoveryMedianS == nil || *c.ClientRecoveryMedianS != 0.1 || *c.ClientRecoveryMaxS != 0.3 || c.ClientNeverRecovered != 1 {
		t.Errorf("kill-master: median %v max %v never %d, want 0.1, 0.3, 1", c.ClientRecoveryMedianS, c.ClientRecoveryMaxS, c.ClientNeverRecovered)
	}
	if c.RateRatioMedian == nil || *c.RateRatioMedian != 0.8 || *c.RateRatioMin != 0.5 {
		t.Errorf("kill-master rate ratio: median %v min %v, want 0.8 and 0.5", c.RateRatioMedian, c.RateRatioMin)
	}
	if c.MovedMedianS == nil || *c.MovedMedianS != 3.2 || *c.MovedMaxS != 4.1 {
		t.Errorf("kill-master slots moved after: median %v max %v, want 3.2 and 4.1", c.MovedMedianS, c.MovedMaxS)
	}
	if c := s.Cells[1]; c.ClientRecoveryMedianS != nil || c.RateRatioMin != nil || c.MovedMaxS != nil {
		t.Errorf("smoke, no faults: %+v, want no figures", c)
	}
	b, err := RenderSoakHTML(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "0.100 s / 0.300 s; never: 1") || !strings.Contains(string(b), "80% / 50%") || !strings.Contains(string(b), "3.200 s / 4.100 s") {
		t.Errorf("soak.html lacks the cell's figures")
	}
}

// TestRecoveryText: an action's recovery says the clients' figure and when
// the cluster showed the slots' new owner; without a move, why not.
func TestRecoveryText(t *testing.T) {
	rec, moved := 0.25, 3.5
	a := checker.ActionRecovery{ClientRecoveryS: &rec, MovedS: &moved, Moved: []checker.SlotMove{{Slot: 7}}}
	if got := recoveryText(a); got != "0.250 s; the slots' new owner served them 3.500 s after the fault began" {
		t.Errorf("recovered: %q", got)
	}
	a = checker.ActionRecovery{Reason: "no slot the clients used changed owner"}
	if got := recoveryText(a); got != "— (no slot the clients used changed owner)" {
		t.Errorf("nothing moved: %q", got)
	}
}

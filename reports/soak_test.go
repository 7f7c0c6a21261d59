package reports

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
)

func TestEmbeddedScenariosLoad(t *testing.T) {
	names := Names()
	if len(names) < 2 {
		t.Fatalf("embedded scenarios: %v", names)
	}
	for _, n := range names {
		s, err := Load(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if s.Name != n || s.Description == "" {
			t.Errorf("%s: name %q description %q", n, s.Name, s.Description)
		}
	}
}

func TestStrictDecoding(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: x\ntime_limit: 10s\nclinet:\n  concurrency: 3\n", "line 3: field clinet not found"},
		{"name: x\ncluster:\n  masters: 2\n", "--masters 2"},
		{"name: x\nbackend: vm\n", "backend \"vm\""},
		{"name: x\ntime_limit: soon\n", "line 2"},
		{"name: x\nclient:\n  workloads:\n    - name: nosuch\n", "nosuch"},
		{"name: bad name\n", "name \"bad name\""},
		{"name: x\nexpect: {sets: false}\n", "expect: \"sets\" is no checker"},
		{"name: x\ncluster:\n  server: redis-9.9\n", "server \"redis-9.9\": not a known build"},
		{"name: x\ncluster:\n  server: valkey-8.1.1\n  image: redis:7.2\n", "give one"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.yaml, err, tc.want)
		}
	}
}

func TestLoadFileAndUnknownName(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	os.WriteFile(p, []byte("description: mine\ntime_limit: 3s\n"), 0o644)
	s, err := Load(p)
	if err != nil || s.Name != "mine" || s.TimeLimit != 3*time.Second {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := Load("nosuch"); err == nil || !strings.Contains(err.Error(), "smoke") {
		t.Errorf("unknown name: %v (should list the embedded ones)", err)
	}
}

// TestResolvedRoundTrip: the resolved scenario written into a run dir reads
// back to the same scenario, seed included, so a rerun repeats the run.
func TestResolvedRoundTrip(t *testing.T) {
	s, err := Load("smoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	if s.Seed == 0 || s.Client.Seed != s.Seed || s.Client.Concurrency == 0 || s.Backend == "" {
		t.Fatalf("not resolved: %+v", s)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("resolved scenario does not parse: %v\n%s", err, b)
	}
	if err := back.Resolve(); err != nil {
		t.Fatal(err)
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) {
		t.Errorf("round trip differs:\n%s\n---\n%s", b, b2)
	}
}

type verdict checker.Valid

func (v verdict) Verdict() checker.Valid { return checker.Valid(v) }

func TestExpectation(t *testing.T) {
	rep := func(vs map[string]checker.Valid) *checker.Report {
		r := &checker.Report{Checkers: map[string]checker.Result{}}
		for _, n := range []string{"set", "linearizable", "slots"} {
			if v, ok := vs[n]; ok {
				r.Names = append(r.Names, n)
				r.Checkers[n] = verdict(v)
			}
		}
		return r
	}
	for _, tc := range []struct {
		name     string
		verdicts map[string]checker.Valid
		declared map[string]bool
		met      bool
		code     int
	}{
		{"all valid, nothing declared", map[string]checker.Valid{"set": checker.True, "slots": checker.True}, nil, true, 0},
		{"an anomaly, nothing declared", map[string]checker.Valid{"set": checker.False, "slots": checker.True}, nil, false, 1},
		{"unknown, nothing declared", map[string]checker.Valid{"set": checker.Unknown}, nil, false, 2},
		{"the anomaly the scenario expects", map[string]checker.Valid{"set": checker.False, "slots": checker.True}, map[string]bool{"set": false}, true, 0},
		{"expected anomaly not found", map[string]checker.Valid{"set": checker.True}, map[string]bool{"set": false}, false, 1},
		{"expected anomaly, result unknown", map[string]checker.Valid{"set": checker.Unknown}, map[string]bool{"set": false}, false, 2},
		{"an undeclared checker fails", map[string]checker.Valid{"set": checker.False, "linearizable": checker.False}, map[string]bool{"set": false}, false, 1},
		{"a declared checker did not run", map[string]checker.Valid{"set": checker.True}, map[string]bool{"counter": false}, false, 1},
	} {
		e, code := expectation(rep(tc.verdicts), tc.declared)
		if e.Met != tc.met || code != tc.code {
			t.Errorf("%s: met %v code %d, want %v %d (%v)", tc.name, e.Met, code, tc.met, tc.code, e.Failures)
		}
	}
}

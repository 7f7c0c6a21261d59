package history

import (
	"slices"
	"testing"
)

// TestTagRoundTrip: the key a workload makes reads back as its space, with
// whatever suffix the workload puts after the tag.
func TestTagRoundTrip(t *testing.T) {
	for _, s := range Spaces() {
		for _, n := range []int{0, 7, 123456} {
			for _, suffix := range []string{"", ":a", ":c"} {
				key := Tag(s.Name, n) + suffix
				if got := SpaceOf(key); got != s.Name {
					t.Errorf("SpaceOf(%q) = %q, want %q", key, got, s.Name)
				}
			}
		}
	}
}

func TestSpaceOf(t *testing.T) {
	for key, want := range map[string]string{
		"{register:12}":            "register",
		"{pipeline-register:3}":    "pipeline-register",
		"{pipeline-kv:0}":          "pipeline-kv",
		"{list-append:7}:b":        "list-append",
		"{multikey:-1}:a":          "multikey",
		"x{set:0}y{kv:1}":          "set",
		"{counter}":                "counter",
		"plain":                    "",
		"{}{register:1}":           "",
		"{register:1":              "",
		"":                         "",
		"{pipeline:2}":             "pipeline",
		"{pipeline-register:2}:xx": "pipeline-register",
	} {
		if got := SpaceOf(key); got != want {
			t.Errorf("SpaceOf(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestSpacesTable: names unique, every space judged by a checker of the
// list, every pipeline space pipelines a workload that has a space of its
// own, and every linearizable space names its model.
func TestSpacesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Spaces() {
		if seen[s.Name] {
			t.Errorf("space %q twice", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(SpaceCheckers(), s.Checker) {
			t.Errorf("space %s: checker %q is not a space checker", s.Name, s.Checker)
		}
		if (s.Checker == CheckLinearizable) != (s.Model != "") {
			t.Errorf("space %s: model %q with checker %s", s.Name, s.Model, s.Checker)
		}
		if (s.Workload == PipelineWorkload) != (s.Of != "") {
			t.Errorf("space %s: of %q for workload %s", s.Name, s.Of, s.Workload)
		}
		if s.Of != "" {
			of, ok := SpaceFor(s.Of, "")
			if !ok || of.Model != s.Model || of.Checker != s.Checker {
				t.Errorf("space %s pipelines %s, whose space is %+v", s.Name, s.Of, of)
			}
		}
		got, ok := SpaceFor(s.Workload, s.Of)
		if !ok || got != s {
			t.Errorf("SpaceFor(%q, %q) = %+v, want %+v", s.Workload, s.Of, got, s)
		}
	}
	if got := SpacesOf(PipelineWorkload); len(got) != 2 {
		t.Errorf("SpacesOf(pipeline) = %v, want the two pipeline spaces", got)
	}
	if got := SpacesOf("pipeline-kv"); len(got) != 1 || got[0].Of != "kv" {
		t.Errorf("SpacesOf(pipeline-kv) = %v", got)
	}
	if got := SpacesOf("bank"); got != nil {
		t.Errorf("SpacesOf(bank) = %v, want nil", got)
	}
	if got, want := Checkers(), []string{"linearizable", "set", "counter", "list-append", "multikey", "slots", "recovery", "stats"}; !slices.Equal(got, want) {
		t.Errorf("Checkers() = %v, want %v", got, want)
	}
}

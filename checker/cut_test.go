package checker

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCutString(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{strings.Repeat("a", 10), 10, strings.Repeat("a", 10)},
		{strings.Repeat("a", 11), 10, "aaaaa…(11 bytes)"},
		{strings.Repeat("é", 2000), MaxValueBytes, strings.Repeat("é", 128) + "…(4000 bytes)"},
		// A cut inside a character keeps it out, whole.
		{"a" + strings.Repeat("é", 10), 10, "a" + strings.Repeat("é", 2) + "…(21 bytes)"},
	} {
		got := CutString(tc.in, tc.limit)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("CutString(%d bytes, %d) = %q, want %q", len(tc.in), tc.limit, got, tc.want)
		}
	}
}

// TestResultsCutEvidence: a result quoting huge values (an element, a key,
// a read's list, an error, a map key) encodes small, saying what was cut,
// and still decodes into its own type.
func TestResultsCutEvidence(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	list := make([]any, 100000)
	for i := range list {
		list[i] = "element"
	}
	ref := OpRef{Key: big, Value: list, Error: big}
	res := &SetResult{Valid: False, Lost: 1, Reason: "1 lost: " + big,
		LostElements: []SetElement{{Key: big, Element: big, Add: &ref, Read: &ref}}}
	stats := &StatsResult{}
	rep := &Report{Valid: False, Names: []string{"set"}, Checkers: map[string]Result{"set": res}, Stats: stats}
	out, err := rep.Results()
	if err != nil {
		t.Fatal(err)
	}
	raw := out.Checkers["set"]
	if len(raw) > 40_000 {
		t.Errorf("the set result is %d bytes", len(raw))
	}
	for _, want := range []string{"…(5242880 bytes)", "…(99"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the cut result does not say %q: %.500s", want, raw)
		}
	}
	var back SetResult
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("the cut result does not decode as a SetResult: %v", err)
	}
	if back.Lost != 1 || len(back.LostElements) != 1 || back.LostElements[0].Add == nil {
		t.Errorf("cutting lost the evidence's shape: %+v", back)
	}
}

package topology

import (
	"encoding/json"
	"os"
	"testing"
)

func TestHashTag(t *testing.T) {
	for _, tc := range []struct{ key, tag string }{
		{"{user:123}:profile", "user:123"},
		{"user:{123}:profile", "123"},
		{"order:{customer:456}:item", "customer:456"},
		{"{}", "{}"},       // empty tag: the whole key
		{"{", "{"},         // no closing brace
		{"{}{a}", "{}{a}"}, // only the first '{' counts, and its tag is empty
		{"{a}{b}", "a"},    // the first tag wins
		{"a}b{c}", "c"},    // a '}' before the first '{' is plain text
		{"{{a}}", "{a"},    // tag runs from the first '{' to the first '}'
		{"foo", "foo"},
		{"", ""},
	} {
		if got := HashTag(tc.key); got != tc.tag {
			t.Errorf("HashTag(%q) = %q, want %q", tc.key, got, tc.tag)
		}
	}
}

// TestKeySlotGolden checks KeySlot against CLUSTER KEYSLOT answers captured
// from Redis 7.0.15 (testdata/keyslot.json).
func TestKeySlotGolden(t *testing.T) {
	want := readKeyslots(t)
	for k, slot := range want {
		if got := KeySlot(k); got != slot {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT said %d", k, got, slot)
		}
	}
	if KeySlot("{user:123}:profile") != KeySlot("{user:123}:cart") {
		t.Error("keys sharing a hash tag must share a slot")
	}
}

func readKeyslots(t *testing.T) map[string]int {
	b, err := os.ReadFile("testdata/keyslot.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEvenSplit(t *testing.T) {
	got := EvenSplit(3)
	want := []SlotRange{{Start: 0, End: 5460}, {Start: 5461, End: 10922}, {Start: 10923, End: 16383}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("EvenSplit(3) = %v, want %v", got, want)
		}
	}
	for n := 3; n <= 100; n++ {
		r := EvenSplit(n)
		if r[0].Start != 0 || r[n-1].End != NumSlots-1 || CountSlots(r) != NumSlots {
			t.Fatalf("EvenSplit(%d) does not cover all slots once: %v", n, r)
		}
		for i := 1; i < n; i++ {
			if r[i].Start != r[i-1].End+1 {
				t.Fatalf("EvenSplit(%d): gap or overlap at %d", n, i)
			}
			if d := r[i].Len() - r[i-1].Len(); d < -1 || d > 1 {
				t.Fatalf("EvenSplit(%d): uneven sizes %v", n, r)
			}
		}
	}
}

func TestRanges(t *testing.T) {
	got := Ranges([]int{5, 1, 2, 3, 3, 9, 10, 7})
	want := []SlotRange{{Start: 1, End: 3}, {Start: 5, End: 5}, {Start: 7, End: 7}, {Start: 9, End: 10}}
	if len(got) != len(want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Ranges = %v, want %v", got, want)
		}
	}
	if n := len(Expand(got)); n != 7 {
		t.Errorf("Expand: %d slots, want 7", n)
	}
	b, _ := json.Marshal(got)
	if string(b) != "[[1,3],[5,5],[7,7],[9,10]]" {
		t.Errorf("JSON: %s", b)
	}
	var one SlotRange
	if err := json.Unmarshal([]byte("[\n  1,\n  3\n]"), &one); err != nil || one != (SlotRange{Start: 1, End: 3}) {
		t.Errorf("indented JSON: %v %v", one, err)
	}
	var back []SlotRange
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 4 || back[3] != (SlotRange{Start: 9, End: 10}) {
		t.Errorf("JSON round trip: %v %v", back, err)
	}
}

func TestParseSlotRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SlotRange
		bad  bool
	}{
		{"5", SlotRange{Start: 5, End: 5}, false},
		{"0-5460", SlotRange{Start: 0, End: 5460}, false},
		{"16383", SlotRange{Start: 16383, End: 16383}, false},
		{"16384", SlotRange{}, true},
		{"10-5", SlotRange{}, true},
		{"-1", SlotRange{}, true},
		{"a-b", SlotRange{}, true},
	} {
		got, err := ParseSlotRange(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ParseSlotRange(%q) = %v, %v", tc.in, got, err)
		}
	}
}

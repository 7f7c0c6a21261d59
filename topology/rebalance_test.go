package topology

import (
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// masters3 is a cluster as create makes it: a, b, c with EvenSplit(3).
func masters3() []RebalanceMaster {
	even := EvenSplit(3)
	return []RebalanceMaster{
		{ID: "a", Slots: []SlotRange{even[0]}},
		{ID: "b", Slots: []SlotRange{even[1]}},
		{ID: "c", Slots: []SlotRange{even[2]}},
	}
}

func r(start, end int) SlotRange { return SlotRange{Start: start, End: end} }

// applyMoves returns each master's slot count after the moves, failing the
// test if a move gives away a slot its source does not have.
func applyMoves(t *testing.T, masters []RebalanceMaster, moves []Move) map[string]int {
	t.Helper()
	owner := ownersAfter(t, masters, moves)
	counts := map[string]int{}
	for _, id := range owner {
		if id != "" {
			counts[id]++
		}
	}
	return counts
}

// ownersAfter is the owner of every slot after the moves.
func ownersAfter(t *testing.T, masters []RebalanceMaster, moves []Move) *[NumSlots]string {
	t.Helper()
	owner := new([NumSlots]string)
	for _, m := range masters {
		for _, r := range m.Slots {
			for s := r.Start; s <= r.End; s++ {
				owner[s] = m.ID
			}
		}
	}
	for _, mv := range moves {
		for _, r := range mv.Slots {
			for s := r.Start; s <= r.End; s++ {
				if owner[s] != mv.From {
					t.Fatalf("move %v: slot %d belongs to %q, not %q", mv, s, owner[s], mv.From)
				}
				owner[s] = mv.To
			}
		}
	}
	return owner
}

func TestPlanRebalance(t *testing.T) {
	uneven := []RebalanceMaster{
		{ID: "a", Slots: []SlotRange{r(0, 5160)}},                     // 5161
		{ID: "b", Slots: []SlotRange{r(5161, 5460), r(10923, 16383)}}, // 300 + 5461
		{ID: "c", Slots: []SlotRange{r(5461, 10922)}},                 // 5462
	}
	withEmpty := append(masters3(), RebalanceMaster{ID: "d"})
	tests := []struct {
		name    string
		masters []RebalanceMaster
		opts    RebalanceOptions
		want    []Move         // nil: check only counts
		counts  map[string]int // expected counts after the moves
		none    bool           // expect no moves
		errText string         // expect an error containing this
	}{
		{name: "balanced after create", masters: masters3(), none: true},
		{name: "within the default 2%", masters: []RebalanceMaster{
			{ID: "a", Slots: []SlotRange{r(0, 5399)}},      // 5400: 1.1% under
			{ID: "b", Slots: []SlotRange{r(5400, 10899)}},  // 5500
			{ID: "c", Slots: []SlotRange{r(10900, 16383)}}, // 5484
		}, none: true},
		{name: "over a smaller threshold", masters: []RebalanceMaster{
			{ID: "a", Slots: []SlotRange{r(0, 5399)}},
			{ID: "b", Slots: []SlotRange{r(5400, 10899)}},
			{ID: "c", Slots: []SlotRange{r(10900, 16383)}},
		}, opts: RebalanceOptions{Threshold: 0.5}, counts: map[string]int{"a": 5462, "b": 5461, "c": 5461}},
		{name: "300 slots moved away are given back, remainder to the taker", masters: uneven,
			want: []Move{
				{From: "b", To: "a", Slots: []SlotRange{r(5161, 5460)}},
				{From: "c", To: "a", Slots: []SlotRange{r(5461, 5461)}},
			},
			counts: map[string]int{"a": 5462, "b": 5461, "c": 5461}},
		{name: "empty master left out by default", masters: withEmpty, none: true},
		{name: "empty master filled with UseEmptyMasters", masters: withEmpty, opts: RebalanceOptions{UseEmptyMasters: true},
			want: []Move{
				{From: "b", To: "d", Slots: []SlotRange{r(5461, 6826)}},
				{From: "c", To: "d", Slots: []SlotRange{r(10923, 12287)}},
				{From: "a", To: "d", Slots: []SlotRange{r(0, 1364)}},
			},
			counts: map[string]int{"a": 4096, "b": 4096, "c": 4096, "d": 4096}},
		{name: "weights", masters: masters3(), opts: RebalanceOptions{Weights: map[string]float64{"a": 2}},
			counts: map[string]int{"a": 8192, "b": 4096, "c": 4096}},
		{name: "weight 0 empties a master", masters: masters3(), opts: RebalanceOptions{Weights: map[string]float64{"c": 0}},
			counts: map[string]int{"a": 8192, "b": 8192}},
		{name: "one master only", masters: []RebalanceMaster{{ID: "a", Slots: []SlotRange{r(0, 16383)}}, {ID: "b"}}, none: true},
		{name: "weight for a stranger", masters: masters3(), opts: RebalanceOptions{Weights: map[string]float64{"zz": 1}}, errText: "not a master"},
		{name: "negative weight", masters: masters3(), opts: RebalanceOptions{Weights: map[string]float64{"a": -1}}, errText: "want a number ≥ 0"},
		{name: "all weights zero", masters: masters3(), opts: RebalanceOptions{Weights: map[string]float64{"a": 0, "b": 0, "c": 0}}, errText: "weight 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			moves, err := PlanRebalance(tc.masters, tc.opts)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.none {
				if len(moves) != 0 {
					t.Fatalf("moves = %v, want none", moves)
				}
				return
			}
			if tc.want != nil && !reflect.DeepEqual(moves, tc.want) {
				t.Errorf("moves =\n  %v\nwant\n  %v", moves, tc.want)
			}
			got := applyMoves(t, tc.masters, moves)
			if !reflect.DeepEqual(got, tc.counts) {
				t.Errorf("counts after = %v, want %v", got, tc.counts)
			}
		})
	}
}

// TestPlanRebalanceRandom: whatever the start, the plan keeps every slot,
// moves each at most once, and leaves every master within one slot of its
// share; planning again from there moves nothing.
func TestPlanRebalanceRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		n := 2 + rng.Intn(8)
		cuts := []int{0}
		for i := 1; i < n; i++ {
			cuts = append(cuts, rng.Intn(NumSlots))
		}
		cuts = append(cuts, NumSlots)
		slices.Sort(cuts)
		var masters []RebalanceMaster
		for i := 0; i < n; i++ {
			m := RebalanceMaster{ID: string(rune('a' + i))}
			if cuts[i] < cuts[i+1] {
				m.Slots = []SlotRange{r(cuts[i], cuts[i+1]-1)}
			}
			masters = append(masters, m)
		}
		opts := RebalanceOptions{UseEmptyMasters: true, Threshold: 0.01}
		moves, err := PlanRebalance(masters, opts)
		if err != nil {
			t.Fatal(err)
		}
		var seen [NumSlots]bool
		for _, mv := range moves {
			for _, s := range Expand(mv.Slots) {
				if seen[s] {
					t.Fatalf("round %d: slot %d moved twice", round, s)
				}
				seen[s] = true
			}
		}
		counts := applyMoves(t, masters, moves)
		total := 0
		for _, m := range masters {
			c := counts[m.ID]
			total += c
			if share := NumSlots / n; c < share || c > share+n {
				t.Fatalf("round %d: %s has %d slots after the plan, want %d to %d", round, m.ID, c, share, share+n)
			}
		}
		if total != NumSlots {
			t.Fatalf("round %d: %d slots after the plan", round, total)
		}
		owner := ownersAfter(t, masters, moves)
		mine := map[string][]int{}
		for slot, id := range owner {
			mine[id] = append(mine[id], slot)
		}
		after := make([]RebalanceMaster, len(masters))
		for i, m := range masters {
			after[i] = RebalanceMaster{ID: m.ID, Slots: Ranges(mine[m.ID])}
		}
		if again, _ := PlanRebalance(after, RebalanceOptions{UseEmptyMasters: true}); len(again) != 0 {
			t.Fatalf("round %d: a second plan moves %v", round, again)
		}
	}
}

func TestMoveString(t *testing.T) {
	m := Move{From: "1a2b3c4d5e", FromAddr: "127.0.100.2:6379", To: "9f8e7d6c5b", ToAddr: "127.0.100.1:6379", Slots: []SlotRange{r(0, 9), r(20, 20)}}
	want := "11 slots (0-9, 20) from 127.0.100.2:6379 (1a2b3c4d) to 127.0.100.1:6379 (9f8e7d6c)"
	if got := m.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestStepNames(t *testing.T) {
	for i, s := range Steps() {
		if int(s) != i {
			t.Errorf("Steps()[%d] = %d", i, s)
		}
		back, err := ParseStep(s.String())
		if err != nil || back != s {
			t.Errorf("ParseStep(%q) = %v, %v", s.String(), back, err)
		}
	}
	if _, err := ParseStep("nope"); err == nil || !strings.Contains(err.Error(), "migrate-batch") {
		t.Errorf("ParseStep(nope): %v", err)
	}
	if got := Step(42).String(); got != "step(42)" {
		t.Errorf("Step(42) = %q", got)
	}
}

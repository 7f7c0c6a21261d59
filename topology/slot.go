package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/checker/history"
)

// NumSlots is the number of hash slots of every Redis Cluster.
const NumSlots = history.NumSlots

// HashTag returns the part of key that decides its slot: the text between the
// first '{' and the first '}' after it, when that text is not empty;
// otherwise the whole key (the rules of the cluster specification). The rule
// is written once, in history.HashTag, which the checkers read key spaces by.
func HashTag(key string) string {
	tag, _ := history.HashTag(key)
	return tag
}

// KeySlot returns the hash slot of key, as CLUSTER KEYSLOT does (history.KeySlot).
func KeySlot(key string) int { return history.KeySlot(key) }

// SlotRange is an inclusive range of slots, [Start, End] (history.SlotRange).
type SlotRange = history.SlotRange

// Ranges compresses a set of slots into sorted, maximal ranges.
func Ranges(slots []int) []SlotRange {
	s := append([]int(nil), slots...)
	sort.Ints(s)
	var out []SlotRange
	for i, v := range s {
		if i > 0 && v == s[i-1] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End+1 == v {
			out[n-1].End = v
			continue
		}
		out = append(out, SlotRange{Start: v, End: v})
	}
	return out
}

// Expand lists every slot of the ranges, in order.
func Expand(ranges []SlotRange) []int {
	var out []int
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			out = append(out, s)
		}
	}
	return out
}

// CountSlots is the number of slots in ranges.
func CountSlots(ranges []SlotRange) int { return history.CountSlots(ranges) }

// EvenSplit divides all slots among n masters as redis-cli --cluster create
// does: for 3 masters 0-5460, 5461-10922, 10923-16383.
func EvenSplit(n int) []SlotRange {
	out := make([]SlotRange, n)
	per := float64(NumSlots) / float64(n)
	first := 0
	cursor := 0.0
	for i := 0; i < n; i++ {
		last := int(cursor + per - 1 + 0.5) // round, as redis-cli does
		if last > NumSlots-1 || i == n-1 {
			last = NumSlots - 1
		}
		out[i] = SlotRange{Start: first, End: last}
		first = last + 1
		cursor += per
	}
	return out
}

// ParseSlotRange reads "5" or "0-5460".
func ParseSlotRange(s string) (SlotRange, error) {
	a, b, found := strings.Cut(s, "-")
	start, err := strconv.Atoi(a)
	if err != nil {
		return SlotRange{}, fmt.Errorf("slot range %q: %w", s, err)
	}
	end := start
	if found {
		if end, err = strconv.Atoi(b); err != nil {
			return SlotRange{}, fmt.Errorf("slot range %q: %w", s, err)
		}
	}
	if start < 0 || end >= NumSlots || start > end {
		return SlotRange{}, fmt.Errorf("slot range %q: want 0 <= start <= end < %d", s, NumSlots)
	}
	return SlotRange{Start: start, End: end}, nil
}

package scenarios

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one slice of a soak's run list, for soaks spread over several
// machines (--shard I/N). The run list is the unsharded soak's: round
// after round, each scenario on each image × server cell; its positions
// are numbered 0, 1, 2, … (endless with --duration). Shard I of N makes
// the positions p with p mod N = I-1: round-robin, so that every shard
// gets a share of every round, and the definition holds for --count and
// --duration alike. The zero Shard is the whole list.
type Shard struct {
	I, N int
}

// ParseShard reads "I/N" (1 ≤ I ≤ N).
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: want I/N, e.g. 2/4 (shard 2 of 4)", s)
	}
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if err := errors.Join(err1, err2); err != nil {
		return Shard{}, fmt.Errorf("--shard %q: want I/N with whole numbers, e.g. 2/4", s)
	}
	sh := Shard{I: i, N: n}
	return sh, sh.validate()
}

func (sh Shard) validate() error {
	switch {
	case sh == Shard{}:
		return nil
	case sh.N < 1:
		return fmt.Errorf("--shard %d/%d: want at least 1 shard", sh.I, sh.N)
	case sh.I < 1 || sh.I > sh.N:
		return fmt.Errorf("--shard %d/%d: the shard number goes from 1 to %d", sh.I, sh.N, sh.N)
	}
	return nil
}

// String is "I/N" ("" for the whole list).
func (sh Shard) String() string {
	if sh.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", sh.I, sh.N)
}

// Has says whether position p (0-based) of the run list is this shard's.
func (sh Shard) Has(p int) bool {
	return sh.N <= 1 || p%sh.N == sh.I-1
}

// RunSeed is the seed of the run at position p (0-based) of a soak with
// seed base base: a mix of the two (splitmix64), so neighbouring runs get
// unrelated seeds, in 1..999999999 like the seeds a run picks itself. It
// depends on nothing else, so every shard, and the unsharded soak, give
// position p the same seed.
func RunSeed(base int64, p int) int64 {
	z := uint64(base) + uint64(p+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int64(z%999_999_999) + 1
}

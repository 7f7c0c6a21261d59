package workloads

import (
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Replies become history values here. Written values are decimal integers,
// so a read that does not parse as one is kept as the string it was: the
// checkers then see a value no op wrote.

// intOrNil reads a GET reply: an int64, or nil for a missing key.
func intOrNil(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case int64:
		return t
	case string:
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n
		}
		return t
	}
	return v
}

// ints reads an array reply of integers (LRANGE, SMEMBERS).
func ints(v any) []any {
	arr, _ := v.([]any)
	out := make([]any, len(arr))
	for i, x := range arr {
		out[i] = intOrNil(x)
	}
	return out
}

// sortedInts reads a set's members, sorted (non-integers last).
func sortedInts(v any) []any {
	out := ints(v)
	slices.SortFunc(out, func(a, b any) int {
		x, xok := a.(int64)
		y, yok := b.(int64)
		switch {
		case xok && yok:
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		case xok:
			return -1
		case yok:
			return 1
		}
		return 0
	})
	return out
}

// val is a reply's value; nil for a missing key.
func val(c *redis.Cmd) any { return c.Val() }

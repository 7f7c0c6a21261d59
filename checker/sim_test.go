package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/redis-harness/harness/checker/history"
)

// simulate writes a history of every workload against a model of Redis
// that applies each op atomically at its completion (an info op maybe, a
// failed one never), so that every checker must find it valid.
func simulate(seed uint64, steps int) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 11))
	var ops []history.Op
	t := int64(0)
	emit := func(o history.Op) {
		t += 1 + rng.Int64N(50)
		o.Index, o.Time = int64(len(ops)), t
		ops = append(ops, o)
	}
	var (
		reg     any // register value, nil before the first write
		set     = map[int64]bool{}
		counter int64
		lists   = map[string][]any{}
		mk      = map[string]any{"{multikey:0}:a": nil, "{multikey:0}:b": nil, "{multikey:0}:c": nil}
		next    = int64(1)
	)
	const (
		la, lx, ly = "{list-append:0}", "{list-append:1}:x", "{list-append:1}:y"
	)
	mkKeys := []string{"{multikey:0}:a", "{multikey:0}:b", "{multikey:0}:c"}
	readList := func(k string) any {
		if lists[k] == nil {
			return nil
		}
		return slices.Clone(lists[k])
	}
	readMK := func() map[string]any {
		m := map[string]any{}
		for _, k := range mkKeys {
			m[k] = mk[k]
		}
		return m
	}
	type pending struct {
		proc     int
		inv      history.Op
		busy     bool
		f        string
		key      string
		val      any
		micro    [][]any
		kvs      map[string]any
		mkScalar any
	}
	slots := make([]pending, 6)
	for i := range slots {
		slots[i].proc = i
	}
	nextProc := len(slots)
	// apply performs the op and returns the completion's value.
	apply := func(s *pending) any {
		switch s.f {
		case "write":
			reg = s.val
		case "read":
			switch s.key {
			case "{register:0}":
				return reg
			case "{set:0}":
				var out []any
				for e := range set {
					out = append(out, fmt.Sprint(e))
				}
				rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
				return out
			case "{counter:0}":
				return fmt.Sprint(counter)
			default:
				return readList(s.key)
			}
		case "add":
			set[s.val.(int64)] = true
		case "incr":
			counter += s.val.(int64)
		case "append":
			lists[s.key] = append(lists[s.key], s.val)
		case "txn":
			out := make([]any, len(s.micro))
			for i, m := range s.micro {
				k := m[1].(string)
				if m[0] == "append" {
					lists[k] = append(lists[k], m[2])
					out[i] = m
				} else {
					out[i] = []any{"r", k, readList(k)}
				}
			}
			return out
		case "mset":
			if s.mkScalar != nil {
				for _, k := range mkKeys {
					mk[k] = s.mkScalar
				}
			} else {
				for k, v := range s.kvs {
					mk[k] = v
				}
			}
		case "mget":
			return readMK()
		}
		return s.val
	}
	invoke := func(s *pending) {
		s.busy, s.micro, s.kvs, s.mkScalar = true, nil, nil, nil
		v := next
		next++
		switch rng.IntN(11) {
		case 0:
			s.f, s.key, s.val = "write", "{register:0}", v
		case 1:
			s.f, s.key, s.val = "read", "{register:0}", nil
		case 2:
			s.f, s.key, s.val = "add", "{set:0}", v
		case 3:
			s.f, s.key, s.val = "incr", "{counter:0}", rng.Int64N(7)-2
		case 4:
			s.f, s.key, s.val = "read", "{counter:0}", nil
		case 5:
			s.f, s.key, s.val = "append", []string{la, lx, ly}[rng.IntN(3)], v
		case 6:
			s.f, s.key, s.val = "read", []string{la, lx, ly}[rng.IntN(3)], nil
		case 7:
			s.f, s.key = "txn", "{list-append:1}"
			s.micro = [][]any{{"r", lx, nil}, {"append", lx, v}, {"append", ly, v}, {"r", ly, nil}, {"r", lx, nil}}
			inv := make([]any, len(s.micro))
			for i, m := range s.micro {
				inv[i] = m
			}
			s.val = inv
		case 8:
			s.f, s.key = "mset", "{multikey:0}"
			if rng.IntN(2) == 0 {
				s.mkScalar = fmt.Sprint(v)
				s.val = s.mkScalar
			} else {
				s.kvs = map[string]any{}
				for _, k := range mkKeys {
					if rng.IntN(2) == 0 {
						s.kvs[k] = fmt.Sprintf("%d%s", v, k[len(k)-1:])
					}
				}
				if len(s.kvs) == 0 {
					s.kvs[mkKeys[0]] = fmt.Sprint(v)
				}
				s.val = s.kvs
			}
		case 9:
			s.f, s.key, s.val = "mget", "{multikey:0}", nil
		default:
			s.f, s.key, s.val = "read", "{set:0}", nil
		}
		emit(history.Op{Process: s.proc, Type: history.Invoke, F: s.f, Key: s.key, Value: s.val})
	}
	complete := func(s *pending) {
		s.busy = false
		done := history.Op{Process: s.proc, Type: history.OK, F: s.f, Key: s.key}
		switch r := rng.Float64(); {
		case r < 0.05:
			done.Type, done.Error, done.Value = history.Fail, "CLUSTERDOWN The cluster is down", s.val
		case r < 0.10:
			if rng.IntN(2) == 0 {
				apply(s)
			}
			done.Type, done.Error, done.Value = history.Info, "i/o timeout", s.val
			s.proc = nextProc
			nextProc++
		default:
			done.Value = apply(s)
		}
		emit(done)
	}
	for range steps {
		s := &slots[rng.IntN(len(slots))]
		if s.busy {
			complete(s)
		} else {
			invoke(s)
		}
	}
	for i := range slots {
		if slots[i].busy && rng.IntN(2) == 0 {
			complete(&slots[i])
		} // the others never complete: the harness died
	}
	// Final reads, by a process of their own, after everything.
	p := nextProc + 1
	for _, k := range []string{"{register:0}", "{set:0}", "{counter:0}", la, lx, ly} {
		s := &pending{proc: p, f: "read", key: k}
		emit(history.Op{Process: p, Type: history.Invoke, F: "read", Key: k})
		emit(history.Op{Process: p, Type: history.OK, F: "read", Key: k, Value: apply(s)})
	}
	emit(history.Op{Process: p, Type: history.Invoke, F: "mget", Key: "{multikey:0}"})
	emit(history.Op{Process: p, Type: history.OK, F: "mget", Key: "{multikey:0}", Value: readMK()})
	return ops
}

// TestSimulatedValidHistories: no checker may find an anomaly in a
// history of a correct system, whatever the interleaving, infos and fails.
func TestSimulatedValidHistories(t *testing.T) {
	cs, err := ForWorkloads([]string{"register", "set", "counter", "list-append", "multikey"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= simSeeds; seed++ {
		ops := simulate(seed, 600)
		// Round-trip through the file format, as a real run does.
		var buf []byte
		for _, o := range ops {
			buf = append(history.AppendJSON(buf, o), '\n')
		}
		var read []history.Op
		if _, err := history.Read(bytesReader(buf), func(o history.Op) error { read = append(read, o); return nil }); err != nil {
			t.Fatal(err)
		}
		pairs, err := history.Pair(read)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		rep := Check(context.Background(), &Input{Ops: read, Operations: pairs}, cs)
		for _, name := range rep.Names {
			if name == "slots" {
				continue // no topology here
			}
			if v := rep.Checkers[name].Verdict(); v != True {
				b, _ := json.MarshalIndent(rep.Checkers[name], "", " ")
				t.Errorf("seed %d: %s says %v\n%s", seed, name, v, b)
			}
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var simSeeds = uint64(40) // more in a soak: every seed is a new interleaving

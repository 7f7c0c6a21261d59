package scenarios

import (
	"testing"
)

// FuzzParse: a scenario file parses or is refused with an error, never a
// panic; one that parses resolves or is refused, and a resolved one (the
// run dir's scenario.yaml) parses again and resolves to itself, so that
// rerunning it repeats the run.
func FuzzParse(f *testing.F) {
	for _, name := range Names() {
		b, err := Source(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\ntime_limit: 1h\nnemesis: {faults: [pause], interval: 1ns}\n"))
	f.Add([]byte("name: x\nnemesis: {timeline: [{at: 1s, do: pause, target: n99}]}\n"))
	f.Add([]byte("client: {concurrency: 10000, ops_per_key: 10000, keys: 1000000}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if s.Seed == 0 {
			s.Seed = 1
		}
		if err := s.Resolve(); err != nil {
			return
		}
		b, err := s.Marshal()
		if err != nil {
			t.Fatalf("a resolved scenario does not marshal: %v", err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("the resolved scenario does not parse again: %v\n%s", err, b)
		}
		if err := back.Resolve(); err != nil {
			t.Fatalf("the resolved scenario does not resolve again: %v\n%s", err, b)
		}
		if b2, _ := back.Marshal(); string(b2) != string(b) {
			t.Fatalf("resolving twice changed the scenario:\n%s\n---\n%s", b, b2)
		}
	})
}

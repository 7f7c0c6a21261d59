package checker

import (
	"strings"
	"testing"
)

// FuzzReadTopology: topology.jsonl is read, or refused naming a line;
// never a panic.
func FuzzReadTopology(f *testing.F) {
	f.Add(`{"time":1,"nodes":[{"addr":"127.0.0.1:6379","id":"a","role":"master","owners":{"a":[[0,16383]]}}]}` + "\n")
	f.Add(`{"time":2,"nodes":[]}` + "\n" + `{"time":1`)
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		samples, _, err := ReadTopology(strings.NewReader(text))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("an error that names no line: %v", err)
			}
			return
		}
		for i := 1; i < len(samples); i++ {
			if samples[i].Time < samples[i-1].Time {
				t.Fatalf("samples out of time order")
			}
		}
	})
}

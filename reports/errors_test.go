package reports

import (
	"reflect"
	"testing"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
)

// TestErrorClassesAreTheClientKinds: the plots count and the report's table
// lists every kind the client names an error with, connection errors
// included, in the one order.
func TestErrorClassesAreTheClientKinds(t *testing.T) {
	for _, k := range history.ErrorKinds() {
		i, ok := errorClassIndex[k]
		if !ok || i >= history.NumErrorKinds {
			t.Errorf("kind %s: index %d, %v", k, i, ok)
		}
	}
	var s section
	statsFacts(&s, &checker.StatsResult{Errors: map[string]checker.ErrorCount{
		"other": {Count: 1}, "reset": {Count: 2}, "connect": {Count: 40, PerSec: 4}, "MOVED": {Count: 3},
	}})
	var rows [][]string
	for _, tb := range s.Tables {
		if tb.Title == "Errors by class" {
			rows = tb.Rows
		}
	}
	want := [][]string{{"MOVED", "3", "0.00"}, {"connect", "40", "4.00"}, {"reset", "2", "0.00"}, {"other", "1", "0.00"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("errors table %v, want %v", rows, want)
	}
}

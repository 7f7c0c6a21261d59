package scenarios

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/redis-harness/harness/nemesis"
)

// TestFaultResultsKeepEveryField: results.json's copy of a nemesis result
// marshals exactly as the nemesis's own, every field set, so that a field
// added to one shape and not the other fails here, not in a report.
func TestFaultResultsKeepEveryField(t *testing.T) {
	r := nemesis.Result{
		Action: nemesis.Action{At: time.Second, For: 2 * time.Second, Do: "partition", Target: "primary", Params: map[string]string{"k": "v"}},
		Fault:  "partition n1 | n2 n3", Nodes: []string{"n1"},
		Scheduled: 1, Started: 2, Effect: 3, Latency: 4, Error: "e", Healed: 5, HealTook: 6, HealError: "h",
	}
	if n := reflect.TypeOf(r).NumField() + reflect.TypeOf(r.Action).NumField(); n != 16 {
		t.Fatalf("nemesis.Result and Action have %d fields, this test sets 16: set the new ones", n)
	}
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(faultResults([]nemesis.Result{r})[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("results.json's fault result\n%s\nnemesis.Result\n%s", got, want)
	}
}

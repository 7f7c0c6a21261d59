package workloads

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string // in the error; "" for valid
	}{
		{Config{}, ""},
		{Config{Workloads: allWorkloads()}, ""},
		{Config{Workloads: []Spec{{Name: "regster"}}}, `workloads[0]: workload "regster": want one of counter, kv, list-append, multikey, pipeline, register, set`},
		{Config{Workloads: []Spec{{Name: "register"}, {Name: "register"}}}, "workloads[1]: register is already workloads[0]"},
		{Config{Workloads: []Spec{{Name: "pipeline"}, {Name: "pipeline", Of: "kv"}}}, ""},
		{Config{Workloads: []Spec{{Name: "pipeline"}, {Name: "pipeline", Of: "register"}}}, "pipeline of register is already"},
		{Config{Workloads: []Spec{{Name: "pipeline", Of: "set"}}}, `pipeline: of "set": want register or kv`},
		{Config{Workloads: []Spec{{Name: "kv", Pipeline: 4}}}, "pipeline and of belong to the pipeline workload"},
		{Config{Workloads: []Spec{{Name: "kv", Mix: map[string]int{"get": 1, "set": 1}}}}, "kv: mix set: want some of append, get, put"},
		{Config{Workloads: []Spec{{Name: "kv", Mix: map[string]int{"get": 0}}}}, "every weight is 0"},
		{Config{Workloads: []Spec{{Name: "kv", Weight: -1}}}, "weight -1"},
		{Config{Concurrency: -1}, "concurrency -1"},
		{Config{Concurrency: 20, OpsPerKey: 10}, "ops_per_key 10 is less than concurrency 20"},
		{Config{OpTimeout: -time.Second}, "op_timeout -1s"},
		{Config{Rate: -5}, "rate -5"},
		{Config{Retry: RetryPolicy{MaxRetries: -2}}, "retry: max_retries -2"},
		{Config{Retry: RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond}}, "min_backoff 1s is more than max_backoff 1ms"},
		{Config{Retry: RetryPolicy{RetryOn: []string{"MOVED", "moved"}}}, `retry_on "moved": want some of MOVED, ASK`},
		{Config{Retry: RetryPolicy{RetryOn: []string{"CROSSSLOT"}}}, "CROSSSLOT command fails the same way every time"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	d := Config{Workloads: []Spec{{Name: "pipeline"}, {Name: "kv", Mix: map[string]int{"get": 1, "put": 1}}}}.WithDefaults()
	want := Config{
		Workloads: []Spec{
			{Name: "pipeline", Weight: 1, Pipeline: DefaultPipeline, Of: "register", Mix: map[string]int{"read": 1, "write": 1, "cas": 1}},
			{Name: "kv", Weight: 1, Mix: map[string]int{"get": 1, "put": 1}},
		},
		Concurrency: 10, OpsPerKey: 1000, Keys: 4, OpTimeout: time.Second,
		Retry: RetryPolicy{MaxRetries: 5, MinBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			RetryOn: []string{"CLUSTERDOWN", "MOVED", "ASK", "TRYAGAIN", "connect"}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("defaults:\n%+v\nwant\n%+v", d, want)
	}
	if def := (Config{}).WithDefaults(); len(def.Workloads) != 1 || def.Workloads[0].Name != "register" {
		t.Errorf("default workloads %+v, want register", def.Workloads)
	}
}

// TestYAML: a resolved config survives scenario.yaml, durations as text.
func TestYAML(t *testing.T) {
	in := `workloads:
  - name: kv
    weight: 2
    mix: {get: 1, put: 1}
  - name: pipeline
    pipeline: 20
    of: kv
concurrency: 8
ops_per_key: 500
keys: 2
op_timeout: 250ms
rate: 1000
retry:
  max_retries: 3
  min_backoff: 5ms
  max_backoff: 1s
  retry_on: [CLUSTERDOWN, timeout]
seed: 9
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.OpTimeout != 250*time.Millisecond || c.Retry.MaxBackoff != time.Second || c.Workloads[1].Of != "kv" || c.Seed != 9 {
		t.Errorf("decoded %+v", c)
	}
	c = c.WithDefaults()
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "op_timeout: 250ms") {
		t.Errorf("durations should be written as text:\n%s", out)
	}
	var back Config
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, c)
	}
}

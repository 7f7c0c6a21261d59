package main

import (
	"strings"
	"testing"

	"github.com/redis-harness/harness/topology"
)

// FuzzParseConfig: a --config value is key=value with a key, or refused
// with a message quoting it; what is accepted is what the cluster spec
// then validates, never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"cluster-node-timeout=2000", "appendonly=", "=x", "novalue", " save = 900 1", "port=7000", "a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, kv string) {
		cfg, err := parseConfig([]string{kv})
		if err != nil {
			if !strings.Contains(err.Error(), "--config") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		if len(cfg) != 1 {
			t.Fatalf("%q gave %d keys", kv, len(cfg))
		}
		for k, v := range cfg {
			if k == "" || k != strings.TrimSpace(k) || !strings.HasSuffix(kv, v) {
				t.Fatalf("%q read as %q=%q", kv, k, v)
			}
		}
		topology.Spec{Name: "x", Masters: 3, Config: cfg}.Validate()
	})
}

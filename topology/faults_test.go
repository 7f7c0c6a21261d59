package topology

import (
	"strings"
	"testing"
	"time"
)

func TestChainName(t *testing.T) {
	a := ChainName(&Cluster{Name: "x", Dir: "/s1/clusters/x"})
	b := ChainName(&Cluster{Name: "x", Dir: "/s2/clusters/x"})
	if a == b || !strings.HasPrefix(a, ChainPrefix) || len(a) > 28 {
		t.Errorf("chain names %q and %q: want distinct, prefixed, at most 28 characters", a, b)
	}
}

func TestNetemSpecValidate(t *testing.T) {
	ok := []NetemSpec{{Delay: 100 * time.Millisecond}, {Loss: 5}, {Delay: time.Second, Jitter: time.Second, Loss: 100}}
	bad := []NetemSpec{{}, {Delay: -1}, {Delay: time.Millisecond, Jitter: time.Second}, {Loss: 101}, {Delay: 11 * time.Second}}
	for _, q := range ok {
		if err := q.Validate(); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range bad {
		if err := q.Validate(); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}

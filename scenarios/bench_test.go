package scenarios

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology/docker"
)

// BenchmarkSoakOverhead measures, on each backend this machine has, the
// time a soak spends between runs: from one run's teardown start to the
// next run's cluster healthy (soak.json's overhead_s). Each iteration is
// one more run of the smoke scenario (1 s of load); the first run of each
// backend has no predecessor, so b.N iterations measure b.N gaps. It
// reports the mean and largest gap per backend and the ratio of the mean
// to the goal (local ≤ 5 s, docker ≤ 10 s; a ratio ≤ 1 meets it).
func BenchmarkSoakOverhead(b *testing.B) {
	ctx := context.Background()
	backends := []struct {
		name string
		goal time.Duration
		why  string
	}{{name: "local", goal: 5 * time.Second}, {name: "docker", goal: 10 * time.Second}}
	if _, err := exec.LookPath("redis-server"); err != nil {
		backends[0].why = "redis-server not installed"
	}
	if err := docker.Available(ctx); err != nil {
		backends[1].why = err.Error()
	}
	measured := 0
	for _, be := range backends {
		if be.why != "" {
			b.Logf("%s variant skipped: %s", be.name, be.why)
			continue
		}
		s, err := Load("smoke")
		if err != nil {
			b.Fatal(err)
		}
		s.TimeLimit = time.Second
		sum, err := Soak(ctx, SoakOptions{Scenarios: []*Scenario{s}, Count: b.N + 1,
			Run: Options{Store: b.TempDir(), Backend: be.name}})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Code != 0 || sum.OverheadMeanS == nil {
			b.Fatalf("%s soak: exit %d (%s), overhead measured: %v", be.name, sum.Code, sum.Verdict, sum.OverheadMeanS != nil)
		}
		b.ReportMetric(*sum.OverheadMeanS, be.name+"-between-s")
		b.ReportMetric(*sum.OverheadMaxS, be.name+"-between-max-s")
		b.ReportMetric(*sum.OverheadMeanS/be.goal.Seconds(), be.name+"-ratio-to-goal")
		measured++
	}
	if measured == 0 {
		b.Skip("skipping: neither redis-server nor a docker engine is here")
	}
}

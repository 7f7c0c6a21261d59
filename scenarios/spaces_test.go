package scenarios

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis-harness/harness/checker"
	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/local"
	"github.com/redis-harness/harness/workloads"
)

// TestEveryWorkloadJudgedAlone runs each workload of history's table of key
// spaces alone, as `harness run smoke --workload W` does, on one real local
// cluster, and requires the checker of its space to judge some of its ops
// (and, for linearizable spaces, with the space's model). A workload whose
// ops no checker selects ends "unknown: no operations" here.
func TestEveryWorkloadJudgedAlone(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: redis-server not installed (apt-get install redis-server)")
	}
	if testing.Short() {
		t.Skip("skipping real runs in -short mode")
	}
	dir := t.TempDir()
	l, err := local.NewHost(topology.Store{Dir: dir})
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := l.Up(ctx, topology.Spec{Name: "t-spaces", Masters: 3, Replicas: 1, Config: map[string]string{"cluster-node-timeout": "2000"}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := l.Down(dctx, c); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	admin := topology.NewAdmin()
	defer admin.Close()
	plan, err := topology.PlanCreate(c.Nodes, 3, 1)
	if err == nil {
		_, err = admin.Create(ctx, plan, time.Minute)
	}
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	store := t.TempDir()
	for _, sp := range history.Spaces() {
		t.Run(sp.Name, func(t *testing.T) {
			spec := workloads.Spec{Name: sp.Workload, Of: sp.Of}
			cfg := workloads.Config{Concurrency: 4, OpsPerKey: 200, Keys: 2, Workloads: []workloads.Spec{spec}}
			if sp.Workload == history.PipelineWorkload {
				// A batch's ops share its interval: few of them per key,
				// or the search cannot order them within its budget.
				cfg.Workloads[0].Pipeline, cfg.Concurrency, cfg.Keys, cfg.OpsPerKey = 4, 2, 4, 100
			}
			s := &Scenario{
				Name:      "judged-" + sp.Name,
				Cluster:   ClusterSpec{Replicas: 1},
				TimeLimit: 2 * time.Second,
				Seed:      7,
				Client:    cfg,
				Check:     CheckSpec{Timeout: 30 * time.Second},
			}
			out, err := Run(ctx, s, Options{Addr: c.Addrs()[0], Store: store})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			res, ok := out.Report.Checkers[sp.Checker]
			if !ok {
				t.Fatalf("no %s checker ran (ran %v)", sp.Checker, out.Report.Names)
			}
			if v := res.Verdict(); v != checker.True {
				t.Errorf("%s: %s on a healthy cluster: %+v", sp.Checker, v, res)
			}
			j, ok := res.(checker.Judging)
			if !ok {
				t.Fatalf("the %s result (%T) says nothing of the ops it judged", sp.Checker, res)
			}
			n := j.Judged()[sp.Name]
			if n == 0 {
				t.Fatalf("the %s checker judged no op of %s (judged %v)", sp.Checker, sp.Name, j.Judged())
			}
			if lr, ok := res.(*checker.LinearizableResult); ok && lr.Models[sp.Model] == 0 {
				t.Errorf("no key of %s judged with the %s model (models %v)", sp.Name, sp.Model, lr.Models)
			}
			if len(j.Judged()) != 1 {
				t.Errorf("judged %v: want ops of %s alone", j.Judged(), sp.Name)
			}
			t.Logf("%s: %d of %d ops judged by %s", sp, n, out.Report.Stats.Ops, sp.Checker)
		})
	}
	os.RemoveAll(store)
}

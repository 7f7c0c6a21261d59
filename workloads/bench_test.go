package workloads

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-harness/harness/checker/history"
)

// BenchmarkThroughput measures, side by side in one run on the same local
// 3×1 cluster, the kv workload (get/put 50/50, concurrency 10, no
// pipelining, every op recorded to a history file) against redis-benchmark
// --cluster -t set,get -c 10, and reports the ops/s of each and their ratio
// (goal ≥ 0.9). redis-benchmark's figure is its SETs and GETs together:
// all requests over the time of both tests. For scale it also runs the same
// get/put loop on a bare go-redis ClusterClient (no hooks, no recording),
// and reports the client CPU per op of both Go clients (getrusage of this
// process, which runs nothing else meanwhile): on a small machine the
// client's CPU is taken from the servers.
func BenchmarkThroughput(b *testing.B) {
	rb, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Skip("skipping: redis-benchmark not installed (Debian's redis-tools)")
	}
	_, addrs := localCluster(b)
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		b.Fatal(err)
	}
	const d = 4 * time.Second
	var ours, bare, theirs, oursCPU, bareCPU float64
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		o := kvThroughput(b, addrs, d)
		c1 := cpuTime()
		g := bareThroughput(addrs, d)
		c2 := cpuTime()
		r, err := benchmarkThroughput(rb, host, port, 150_000)
		if err != nil {
			b.Fatal(err)
		}
		ours, bare, theirs = ours+o, bare+g, theirs+r
		oursCPU += (c1 - c0).Seconds() * 1e6 / (o * d.Seconds())
		bareCPU += (c2 - c1).Seconds() * 1e6 / (g * d.Seconds())
	}
	n := float64(b.N)
	b.ReportMetric(ours/n, "harness-ops/s")
	b.ReportMetric(theirs/n, "redis-benchmark-ops/s")
	b.ReportMetric(ours/theirs, "harness/redis-benchmark")
	b.ReportMetric(bare/n, "go-redis-ops/s")
	b.ReportMetric(ours/bare, "harness/go-redis")
	b.ReportMetric(oursCPU/n, "harness-cpu-µs/op")
	b.ReportMetric(bareCPU/n, "go-redis-cpu-µs/op")
	b.ReportMetric(0, "ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareThroughput is the kv get/put loop on a bare ClusterClient, 10
// goroutines, for d: the ops/s go-redis reaches with nothing of ours.
func bareThroughput(addrs []string, d time.Duration) float64 {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Protocol: 2, DisableIdentity: true, PoolSize: 12})
	defer cc.Close()
	ctx := context.Background()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				k := tag("kv", (i*7+w)%32)
				if i%2 == 0 {
					cc.Set(ctx, k, itoa(int64(i))+";", 0)
				} else {
					cc.Get(ctx, k)
				}
				n.Add(1)
			}
		}(w)
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// kvThroughput runs the kv workload for d and returns its completed ops/s.
func kvThroughput(b *testing.B, addrs []string, d time.Duration) float64 {
	f, err := os.Create(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := history.NewWriter(f, time.Now())
	cfg := Config{
		Workloads:   []Spec{{Name: "kv", Mix: map[string]int{"get": 1, "put": 1}}},
		Concurrency: 10, Keys: 32, OpsPerKey: 1 << 30, Seed: 1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sum, err := Run(ctx, cfg, addrs, w)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if sum.Fail+sum.Info > 0 {
		b.Errorf("kv on a healthy cluster: %d fail, %d info", sum.Fail, sum.Info)
	}
	return float64(sum.Ops()) / sum.Duration.Seconds()
}

// benchmarkThroughput runs redis-benchmark's SET and GET tests, n requests
// each, and returns the requests per second of both together.
func benchmarkThroughput(bin, host, port string, n int) (float64, error) {
	out, err := exec.Command(bin, "--cluster", "-h", host, "-p", port, "-t", "set,get", "-c", "10",
		"-n", strconv.Itoa(n), "-r", "100000", "--csv").Output()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark: %w\n%s", err, out)
	}
	// The CSV rows follow a banner listing the masters.
	var rows []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, `"`) {
			rows = append(rows, line)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(strings.Join(rows, "\n"))).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark --csv: %w\n%s", err, out)
	}
	var secs float64
	tests := 0
	for _, r := range recs {
		if len(r) < 2 || (r[0] != "SET" && r[0] != "GET") {
			continue
		}
		rps, err := strconv.ParseFloat(r[1], 64)
		if err != nil || rps <= 0 {
			return 0, fmt.Errorf("redis-benchmark: %q: %v", r, err)
		}
		secs += float64(n) / rps
		tests++
	}
	if tests != 2 {
		return 0, fmt.Errorf("redis-benchmark: want SET and GET rows:\n%s", out)
	}
	return float64(2*n) / secs, nil
}

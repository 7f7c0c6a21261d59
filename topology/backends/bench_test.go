package backends_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	. "github.com/redis-harness/harness/topology"
	"github.com/redis-harness/harness/topology/docker"
	"github.com/redis-harness/harness/topology/internal/wait"
	"github.com/redis-harness/harness/topology/local"
)

// BenchmarkClusterUp measures, side by side in one run, `cluster up` of 3
// masters × 1 replica to a passing health gate on each backend against the
// hand-made way: redis-server processes with a stock config, redis-cli
// --cluster create, then waiting until every replica's link is up. It
// reports each mean and the ratios to the hand-made time (goals: local
// ≤ 0.25, docker ≤ 0.6; see README for the figures measured here).
func BenchmarkClusterUp(b *testing.B) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("skipping: redis-server not installed")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		b.Skip("skipping: redis-cli not installed (Debian's redis-tools)")
	}
	ctx := context.Background()
	var dockerBackend *docker.Backend
	if err := docker.Available(ctx); err != nil {
		b.Logf("docker variant skipped: %v", err)
	} else if dockerBackend, err = docker.New(ctx, Store{Dir: b.TempDir()}); err != nil {
		b.Fatal(err)
	} else {
		img, err := docker.DefaultImage()
		if err != nil {
			b.Fatal(err)
		}
		if err := dockerBackend.EnsureImage(ctx, img, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	localBackend := &local.Backend{Store: Store{Dir: b.TempDir()}, Server: server, Port: 6379}
	var hand, loc, dock time.Duration
	for i := 0; i < b.N; i++ {
		hand += timeIt(b, func() error { return handMadeCluster(ctx, b.TempDir(), server, cli) })
		loc += timeIt(b, func() error { return harnessCluster(ctx, localBackend, fmt.Sprintf("bench-l%d", i)) })
		if dockerBackend != nil {
			dock += timeIt(b, func() error { return harnessCluster(ctx, dockerBackend, fmt.Sprintf("bench-d%d", i)) })
		}
	}
	n := float64(b.N)
	b.ReportMetric(hand.Seconds()/n, "handmade-s")
	b.ReportMetric(loc.Seconds()/n, "local-s")
	b.ReportMetric(loc.Seconds()/hand.Seconds(), "local/handmade")
	if dockerBackend != nil {
		b.ReportMetric(dock.Seconds()/n, "docker-s")
		b.ReportMetric(dock.Seconds()/hand.Seconds(), "docker/handmade")
	}
}

func timeIt(b *testing.B, f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// harnessCluster is `cluster up`: nodes from the backend, Create, the
// health gate. Teardown is not timed.
func harnessCluster(ctx context.Context, be Backend, name string) error {
	c, err := be.Up(ctx, Spec{Name: name, Masters: 3, Replicas: 1})
	if err != nil {
		return err
	}
	a := NewAdmin()
	defer a.Close()
	plan, err := PlanCreate(c.Nodes, 3, 1)
	if err == nil {
		_, err = a.Create(ctx, plan, time.Minute)
	}
	defer be.Down(context.Background(), c)
	return err
}

// handMadeCluster is what an operator does by hand: six servers with a stock
// cluster config on 127.0.0.1, redis-cli --cluster create, and waiting until
// every replica's link is up.
func handMadeCluster(ctx context.Context, dir, server, cli string) error {
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGKILL)
			p.Wait()
		}
	}()
	var addrs []string
	for i := 0; i < 6; i++ {
		port := freePort()
		d := filepath.Join(dir, strconv.Itoa(port))
		os.MkdirAll(d, 0o755)
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--dir", d, "--appendonly", "yes", "--logfile", filepath.Join(d, "log"))
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := wait.Poll(ctx, 10*time.Millisecond, func() (bool, string, error) { return c.Ping(ctx).Err() == nil, "", nil })
		c.Close()
		if err != nil {
			return err
		}
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := wait.Poll(ctx, 50*time.Millisecond, func() (bool, string, error) {
			r := ParseReplication(c.Info(ctx, "replication").Val())
			return r.Role == "master" || r.MasterLinkStatus == "up", "", nil
		})
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1 whose bus port (+10000) fits.
func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 >= 65536 {
			continue
		}
		if bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000))); err == nil {
			bus.Close()
			return p
		}
	}
}

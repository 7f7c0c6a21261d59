package topology

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestMonitorKeepsPeriodPastSilentNodes samples two "nodes" that accept
// connections and never answer (what a SIGSTOPped server does): every
// sample records both as unreachable, and samples keep coming, each
// stamped when it was asked, while the nodes stay silent. The period is
// logged, not asserted (the machine is shared).
func TestMonitorKeepsPeriodPastSilentNodes(t *testing.T) {
	var addrs []string
	var mu sync.Mutex
	var conns []net.Conn
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skipf("skipping: no loopback listener: %v", err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never read
				mu.Unlock()
			}
		}()
	}
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	const interval = 50 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var samples []Sample
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewAdmin().Monitor(ctx, interval, func() []string { return addrs }, func() int64 { return int64(time.Since(start)) }, func(s Sample) {
			samples = append(samples, s)
			if len(samples) == 6 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("six samples of silent nodes took over a minute")
	}
	for i, s := range samples {
		if len(s.Nodes) != 2 || s.Nodes[0].Error == "" || s.Nodes[1].Error == "" {
			t.Errorf("sample %d: %+v, want both nodes unreachable", i, s.Nodes)
		}
		if i > 0 && s.Time <= samples[i-1].Time {
			t.Errorf("sample %d at %d, not after the previous at %d", i, s.Time, samples[i-1].Time)
		}
	}
	if n := len(samples); n > 1 {
		t.Logf("%d samples of two silent nodes, %v apart on average (interval %v)", n, time.Duration(samples[n-1].Time-samples[0].Time)/time.Duration(n-1), interval)
	}
}

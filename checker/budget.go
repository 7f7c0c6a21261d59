package checker

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The budgets of the linearizable checker besides Options.CheckTimeout,
// used when the matching Options field is zero.
const (
	// DefaultExplainTimeout bounds the explanation of the keys found not
	// linearizable, all of them together: their witnesses and drawings.
	DefaultExplainTimeout = 10 * time.Second
	// DefaultExplainMemory bounds the live heap the explanation may add.
	DefaultExplainMemory = 1 << 30
	// DefaultShrinkTimeout bounds the shrinking of one key's witness.
	DefaultShrinkTimeout = 5 * time.Second
	// DefaultMaxWitnesses is how many failing keys get a witness.
	DefaultMaxWitnesses = 20
	// maxCheckMemory caps the default memory ceiling of a check.
	maxCheckMemory = 4 << 30
)

// DefaultCheckMemory is the memory ceiling of a check when
// Options.CheckMemory is zero: the smaller of 4 GiB and half the machine's
// memory.
func DefaultCheckMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return maxCheckMemory
	}
	total := int64(si.Totalram) * int64(max(si.Unit, 1))
	return min(maxCheckMemory, total/2)
}

func (o Options) checkMemory() int64 {
	if o.CheckMemory > 0 {
		return o.CheckMemory
	}
	return DefaultCheckMemory()
}

// positiveOr is v when it is set (positive), else the default d.
func positiveOr[T int | int64 | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

func (o Options) explainTimeout() time.Duration {
	return positiveOr(o.ExplainTimeout, DefaultExplainTimeout)
}

func (o Options) explainMemory() int64 { return positiveOr(o.ExplainMemory, DefaultExplainMemory) }

func (o Options) shrinkTimeout() time.Duration {
	return positiveOr(o.ShrinkTimeout, DefaultShrinkTimeout)
}

func (o Options) maxWitnesses() int { return positiveOr(o.MaxWitnesses, DefaultMaxWitnesses) }

// ParseSize reads a memory size: 4GiB, 512MiB, 1.5G, 300MB or a number of
// bytes. Units are binary whatever their spelling (1MB = 1 MiB = 2^20).
func ParseSize(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f*float64(mult) < 1<<20 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q: want a size such as 4GiB, 512MiB or 1.5G, at least 1MiB", v)
	}
	return int64(f * float64(mult)), nil
}

// SizeText writes n bytes for people: "4 GiB", "1.5 GiB", "312 MiB".
func SizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'g', 3, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n>>10, 10) + " KiB"
}

// memSample is what the watch reads from runtime/metrics.
type memSample struct {
	// live is the heap that survived the last collection; held the memory
	// the runtime holds from the system (what RSS shows, give or take).
	live, held int64
}

var memMetrics = []string{"/gc/heap/live:bytes", "/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}

func readMem(s []metrics.Sample) memSample {
	metrics.Read(s)
	get := func(i int) int64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	return memSample{live: get(0), held: get(1) - get(2)}
}

// memWatch polls the runtime's memory every few milliseconds and calls
// over when its predicate says the memory has passed a ceiling; over
// returns whether it stopped something, and the watch then collects the
// garbage so that the next reading is not the stale figure of before.
type memWatch struct {
	stop chan struct{}
	done chan struct{}
	peak memSample
	mu   sync.Mutex
}

// memPoll is how often a watch reads the runtime's memory; porcupine's
// cache grows by a few MiB in that time.
const memPoll = 5 * time.Millisecond

func watchMemory(past func(memSample) bool, over func(memSample) bool) *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		s := make([]metrics.Sample, len(memMetrics))
		for i, name := range memMetrics {
			s[i].Name = name
		}
		t := time.NewTicker(memPoll)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			m := readMem(s)
			w.mu.Lock()
			w.peak.live, w.peak.held = max(w.peak.live, m.live), max(w.peak.held, m.held)
			w.mu.Unlock()
			if past(m) && over(m) {
				runtime.GC()
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the peak it saw.
func (w *memWatch) Stop() memSample {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// currentMem reads the runtime's memory once.
func currentMem() memSample {
	s := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		s[i].Name = name
	}
	return readMem(s)
}

// overCeiling says whether m is close enough to a check's memory ceiling
// that the search must stop: the memory the runtime holds passed seven
// eighths of it, or the live heap five eighths. The margins are the growth
// between a reading and the search's stop (the live heap is known only as
// of the last collection): at the ceiling itself, a 100,000-op key under a
// 4 GiB ceiling peaked 8 % over it. The rest below the ceiling is also the
// collector's room: closer to it, it would run back to back and the search
// crawl before it stopped.
func overCeiling(m memSample, ceiling int64) bool {
	return m.held > ceiling/8*7 || m.live > ceiling/8*5
}

// limitMemory sets the runtime's soft memory limit to ceiling while a check
// runs (the collector then works to keep what it holds under it), unless a
// lower one is set (GOMEMLIMIT); the returned func restores the old limit.
func limitMemory(ceiling int64) func() {
	old := debug.SetMemoryLimit(-1)
	if ceiling >= old {
		return func() {}
	}
	debug.SetMemoryLimit(ceiling)
	return func() { debug.SetMemoryLimit(old) }
}

package scenarios

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// countingRecorder counts completions for the progress line.
type countingRecorder struct {
	*history.Writer
	completions, ok, fail, info atomic.Int64
}

func (r *countingRecorder) Append(op history.Op) (history.Op, error) {
	switch op.Type {
	case history.OK:
		r.ok.Add(1)
		r.completions.Add(1)
	case history.Fail:
		r.fail.Add(1)
		r.completions.Add(1)
	case history.Info:
		if op.IsClient() {
			r.info.Add(1)
			r.completions.Add(1)
		}
	}
	return r.Writer.Append(op)
}

// progress prints elapsed, ops/s and outcomes: one line rewritten in place
// on a terminal, a plain line every 5 s otherwise.
func progress(ctx context.Context, done chan<- struct{}, o Options, r *countingRecorder, start time.Time, limit time.Duration) {
	defer close(done)
	every := 5 * time.Second
	if o.TTY {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastN := start, int64(0)
	line := func(end string) {
		now := time.Now()
		n := r.completions.Load()
		rate := float64(n-lastN) / now.Sub(last).Seconds()
		last, lastN = now, n
		fmt.Fprintf(o.Progress, "%s%5s/%s  %7.0f ops/s  ok %d  fail %d  info %d%s",
			map[bool]string{true: "\r", false: ""}[o.TTY], now.Sub(start).Round(time.Second), limit, rate, r.ok.Load(), r.fail.Load(), r.info.Load(), end)
	}
	for {
		select {
		case <-ctx.Done():
			if o.TTY {
				line("\n")
			}
			return
		case <-t.C:
			if o.TTY {
				line("")
			} else {
				line("\n")
			}
		}
	}
}

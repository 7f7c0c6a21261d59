// Package wait holds the bounded waits that topology and its backends
// share: polling a condition under a context, and running n things at once.
// It imports nothing of ours.
package wait

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrTimeout marks a bounded wait that ran out. It is a sentinel, compared
// with errors.Is, and never reassigned.
var ErrTimeout = errors.New("timed out")

// Poll calls f every interval until it returns done, an error, or ctx ends.
// On the deadline it returns the last reason f gave for not being done,
// wrapping ErrTimeout.
func Poll(ctx context.Context, interval time.Duration, f func() (done bool, why string, err error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, why, err := f()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if why == "" {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s", ErrTimeout, why)
		case <-t.C:
		}
	}
}

// Parallel runs f(0..n-1) concurrently and returns the first error.
func Parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Package flock takes flock(2) locks on files, released by the returned
// func or by the kernel when the process ends, however it ends. It imports
// nothing of ours.
package flock

import (
	"fmt"
	"os"
	"syscall"
)

// Lock takes a flock on path (created if missing) with how:
// LOCK_EX waits for it, LOCK_EX|LOCK_NB fails at once when it is held.
func Lock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

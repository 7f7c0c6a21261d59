package scenarios

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/redis-harness/harness/checker/history"
)

// gzipTemp is where GzipHistory writes before its rename: a name no reader
// of run dirs looks at, so a compression cut short is never taken for the
// history.
const gzipTemp = "." + history.GzipFile + ".tmp"

// GzipResult is what GzipHistory did.
type GzipResult struct {
	// Plain is history.jsonl's size, Gz history.jsonl.gz's.
	Plain, Gz int64
	// Via is how: "gzip -1" (the system's, under nice -n 19 when there is
	// a nice) or "in-process".
	Via string
}

// GzipHistory compresses run dir dir's history.jsonl into history.jsonl.gz
// (the same bytes, which every reader of a run dir accepts) and removes
// history.jsonl. It writes to a temporary name, syncs and closes it,
// checks its length against the original, renames it and only then removes
// history.jsonl: whenever it stops (ctx done, a kill), the history is
// complete in one of the two files, and the temporary is left at most.
// It runs the system's gzip -1 under nice -n 19 when found on PATH, so
// that it takes only CPU time nothing else wants; else it compresses
// in-process on a thread of its own at the lowest priority.
func GzipHistory(ctx context.Context, dir string) (GzipResult, error) {
	var res GzipResult
	src := filepath.Join(dir, history.File)
	st, err := os.Stat(src)
	if err != nil {
		return res, fmt.Errorf("gzip history: %w", err)
	}
	res.Plain = st.Size()
	tmp := filepath.Join(dir, gzipTemp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("gzip history: remove a stale %s: %w", tmp, err)
	}
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return res, fmt.Errorf("gzip history: %w", err)
	}
	done := false
	defer func() {
		if !done {
			out.Close()
			os.Remove(tmp)
		}
	}()
	if argv := gzipCommand(); argv != nil {
		res.Via = "gzip -1"
		err = gzipExternal(ctx, argv, src, out)
	} else {
		res.Via = "in-process"
		err = gzipInProcess(ctx, src, out)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		res.Gz, err = checkGzipLength(tmp, res.Plain)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w)", ctx.Err())
		}
		return res, fmt.Errorf("gzip history (%s): %w; %s kept", res.Via, err, history.File)
	}
	if err := os.Rename(tmp, filepath.Join(dir, history.GzipFile)); err != nil {
		return res, fmt.Errorf("gzip history: %w; %s kept", err, history.File)
	}
	done = true
	// The rename must be on disk before the original goes: a crash in
	// between leaves both files, and readers take history.jsonl.
	if err := syncDir(dir); err != nil {
		return res, fmt.Errorf("gzip history: %w; %s kept", err, history.File)
	}
	if err := os.Remove(src); err != nil {
		return res, fmt.Errorf("gzip history: %s written, but %w", history.GzipFile, err)
	}
	return res, syncDir(dir)
}

// gzipCommand is the system's gzip -1 to stdout, under nice -n 19 when
// there is a nice; nil when there is no gzip on PATH.
func gzipCommand() []string {
	gz, err := exec.LookPath("gzip")
	if err != nil {
		return nil
	}
	argv := []string{gz, "-1", "-c", "--"}
	if nice, err := exec.LookPath("nice"); err == nil {
		argv = append([]string{nice, "-n", "19"}, argv...)
	}
	return argv
}

func gzipExternal(ctx context.Context, argv []string, src string, out *os.File) error {
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], src)...)
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// gzipInProcess compresses src into out at gzip's best speed. The work runs
// on an OS thread of its own set to the lowest priority; the goroutine
// ends without unlocking it, so the Go runtime discards that thread rather
// than run other goroutines (the next run's clients) on it.
func gzipInProcess(ctx context.Context, src string, out io.Writer) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
		errc <- compress(ctx, src, out)
	}()
	return <-errc
}

func compress(ctx context.Context, src string, out io.Writer) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	bw := bufio.NewWriterSize(out, 256<<10)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.Name = history.File
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := zw.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// checkGzipLength returns path's size after checking that its gzip trailer
// holds the original's length (modulo 2³², as gzip keeps it): a compressor
// that stopped early but said nothing is caught before the original goes.
func checkGzipLength(path string, plain int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() < 18 { // the smallest gzip file: header, empty stream, trailer
		return st.Size(), fmt.Errorf("%s is %d bytes: not a whole gzip file", path, st.Size())
	}
	var trailer [4]byte
	if _, err := f.ReadAt(trailer[:], st.Size()-4); err != nil {
		return st.Size(), err
	}
	if got := binary.LittleEndian.Uint32(trailer[:]); got != uint32(plain) {
		return st.Size(), fmt.Errorf("%s holds %d bytes (mod 2³²), the history %d: not a whole copy", path, got, plain)
	}
	return st.Size(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

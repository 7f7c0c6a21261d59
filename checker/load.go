package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/redis-harness/harness/checker/history"
	"github.com/redis-harness/harness/topology"
)

// The run directory's files Load reads (DESIGN.md's run-directory contract).
const (
	HistoryFile  = history.File
	TopologyFile = "topology.jsonl"
)

// Load reads a run directory into an Input: history.jsonl or, without it,
// history.jsonl.gz (required; paired) and topology.jsonl (optional). A
// last line cut short in either file is left out and named in
// Input.Warnings, as a run that died mid-write leaves it. Input.Dir is
// dir, so checkers write their files there; Input.Expect is left for the
// caller, who knows the scenario.
func Load(dir string) (*Input, error) {
	ops, rr, path, err := readHistory(dir)
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	in := &Input{Ops: ops, Dir: dir, HistoryPath: path, Truncated: rr.Truncated}
	if rr.Truncated != "" {
		in.Warnings = append(in.Warnings, filepath.Base(path)+": "+rr.Truncated)
	}
	if in.Operations, err = history.Pair(ops); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ops) > 1<<18 {
		// Reading and pairing a large history leaves as much garbage as
		// history; collecting it now sets the collector's goal from what
		// is live, which keeps the checkers' peak memory near twice the
		// history's instead of three times (a million records: 730 MiB
		// RSS against 970).
		runtime.GC()
	}
	path = filepath.Join(dir, TopologyFile)
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		in.Warnings = append(in.Warnings, TopologyFile+" is missing: slot coverage cannot be judged")
		return in, nil
	case err != nil:
		return nil, fmt.Errorf("load topology: %w", err)
	}
	defer f.Close()
	samples, warning, err := ReadTopology(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if warning != "" {
		in.Warnings = append(in.Warnings, TopologyFile+": "+warning)
	}
	in.Topology = samples
	return in, nil
}

// readHistory reads dir's history (history.Open: plain or gzipped), made
// for large files; it returns the path it read. The slice is sized
// beforehand from the line count: growing a slice of a million records by
// appending copies it over and over while the collector scans it, which
// costs more than the parsing (2.3 s against 1.0 s here). And a large file
// is read as two halves, split at a newline, by history.Read on two cores;
// should either half fail, the file is read again in one piece so that the
// error names the right line. A gzipped history can be neither counted nor
// split without decompressing it twice: it is read in one piece, in
// chunks (readChunks).
func readHistory(dir string) ([]history.Op, history.ReadResult, string, error) {
	src, err := history.Open(dir)
	if err != nil {
		return nil, history.ReadResult{}, filepath.Join(dir, HistoryFile), err
	}
	defer src.Close()
	path := src.Path
	if src.Gzipped {
		ops, res, err := readChunks(src)
		if err != nil {
			return nil, res, path, fmt.Errorf("%s: %w", path, err)
		}
		return ops, res, path, nil
	}
	f := src.File
	ops, res, err := readHalves(f)
	if err != nil || ops == nil {
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return nil, history.ReadResult{}, path, fmt.Errorf("%s: %w", path, serr)
		}
		ops = make([]history.Op, 0, cap(ops))
		res, err = history.Read(f, func(o history.Op) error { ops = append(ops, o); return nil })
	}
	if err != nil {
		return nil, res, path, fmt.Errorf("%s: %w", path, err)
	}
	return ops, res, path, nil
}

// readChunks reads r's records into fixed-size chunks and copies them once
// into a slice of the right size: what counting the lines beforehand does
// for a plain file, for a stream that cannot be read twice.
func readChunks(r io.Reader) ([]history.Op, history.ReadResult, error) {
	const chunk = 1 << 14
	var full [][]history.Op
	cur := make([]history.Op, 0, chunk)
	res, err := history.Read(r, func(o history.Op) error {
		if len(cur) == chunk {
			full = append(full, cur)
			cur = make([]history.Op, 0, chunk)
		}
		cur = append(cur, o)
		return nil
	})
	if err != nil {
		return nil, res, err
	}
	ops := make([]history.Op, 0, len(full)*chunk+len(cur))
	for i, c := range full {
		ops = append(ops, c...)
		full[i] = nil // the collector may take it now
	}
	return append(ops, cur...), res, nil
}

// parallelAbove is the size from which readHalves reads in two halves.
const parallelAbove = 8 << 20

// readHalves reads f in two halves in parallel. It returns nil ops, with
// the capacity the file needs, when the file is small or any half fails.
func readHalves(f *os.File) ([]history.Op, history.ReadResult, error) {
	var res history.ReadResult
	st, err := f.Stat()
	if err != nil {
		return nil, res, err
	}
	size := st.Size()
	lines, mid, linesBefore, err := countLines(f, size/2)
	if err != nil {
		return nil, res, err
	}
	if size < parallelAbove || runtime.GOMAXPROCS(0) < 2 || mid < 0 {
		return make([]history.Op, 0, lines+1), res, errSequential
	}
	// The first half ends with the newline at mid, so it holds at most
	// linesBefore records; the second starts after it.
	ops := make([]history.Op, lines+1)
	var n1, n2 int
	var res1, res2 history.ReadResult
	var err1, err2 error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res1, err1 = history.Read(io.NewSectionReader(f, 0, mid+1), func(o history.Op) error { ops[n1] = o; n1++; return nil })
	}()
	res2, err2 = history.Read(io.NewSectionReader(f, mid+1, size-mid-1), func(o history.Op) error { ops[linesBefore+n2] = o; n2++; return nil })
	wg.Wait()
	if err1 != nil || err2 != nil || res1.Truncated != "" {
		return nil, res, errSequential
	}
	res.Records = res1.Records + res2.Records
	if res2.Truncated != "" {
		// Name the line in the whole file's numbering.
		rel := fmt.Sprintf("line %d ", lines-linesBefore+1)
		rest, ok := strings.CutPrefix(res2.Truncated, rel)
		if !ok {
			return nil, res, errSequential
		}
		res.Truncated = fmt.Sprintf("line %d ", lines+1) + rest
	}
	if n1 < linesBefore { // blank lines in the first half
		copy(ops[n1:], ops[linesBefore:linesBefore+n2])
	}
	clear(ops[n1+n2:])
	return ops[:n1+n2], res, nil
}

var errSequential = errors.New("read in one piece")

// countLines counts the newlines of r and finds the first one at or after
// offset half: its offset (-1 if none) and the newlines before and at it.
func countLines(r io.Reader, half int64) (lines int, mid int64, upToMid int, err error) {
	buf := make([]byte, 1<<20)
	mid = -1
	var off int64
	for {
		k, rerr := r.Read(buf)
		chunk := buf[:k]
		if mid < 0 && off+int64(k) > half {
			from := max(half-off, 0)
			if j := bytes.IndexByte(chunk[from:], '\n'); j >= 0 {
				mid = off + from + int64(j)
				upToMid = lines + bytes.Count(chunk[:from+int64(j)+1], []byte{'\n'})
			}
		}
		lines += bytes.Count(chunk, []byte{'\n'})
		off += int64(k)
		if rerr == io.EOF {
			return lines, mid, upToMid, nil
		}
		if rerr != nil {
			return lines, mid, upToMid, rerr
		}
	}
}

// ReadTopology reads topology.jsonl's samples and sorts them by time. A
// malformed line is an error naming it, except a last line with no newline
// that does not parse: it is left out and described in warning.
func ReadTopology(r io.Reader) (samples []topology.Sample, warning string, err error) {
	warning, err = ScanTopology(r, func(s *topology.Sample) error {
		samples = append(samples, *s)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Time < samples[j].Time })
	return samples, warning, nil
}

// ScanTopology streams topology.jsonl's samples to fn in file order, so a
// long run's samples need not be held at once. A last line cut short is
// left out and named in the warning; any other bad line is an error naming it.
func ScanTopology(r io.Reader, fn func(*topology.Sample) error) (warning string, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	for line := 1; ; line++ {
		b, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return "", fmt.Errorf("read line %d: %w", line, rerr)
		}
		last := rerr == io.EOF
		if t := bytes.TrimSpace(b); len(t) > 0 {
			var s topology.Sample
			if jerr := json.Unmarshal(t, &s); jerr != nil {
				if last {
					return fmt.Sprintf("line %d ends early (%d bytes, no newline): left out, as a run that died mid-write leaves it", line, len(b)), nil
				}
				return "", fmt.Errorf("line %d: %w", line, jerr)
			}
			if err := fn(&s); err != nil {
				return "", err
			}
		}
		if last {
			return "", nil
		}
	}
}

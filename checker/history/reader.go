package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadResult says what Read found besides the records.
type ReadResult struct {
	// Records is the number of records read.
	Records int64
	// Truncated is set when the last line was cut short (the writer died
	// mid-record); it was left out and the rest is sound.
	Truncated string
}

// Read streams the records of a history to fn, in file order. A malformed
// line is an error naming its line number, except a last line with no
// newline that ends early, which is reported in ReadResult.Truncated.
func Read(r io.Reader, fn func(Op) error) (ReadResult, error) {
	var res ReadResult
	br := bufio.NewReaderSize(r, 1<<20)
	names := newNames()
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(b) == 0 && err == io.EOF {
			return res, nil
		}
		if err != nil && err != io.EOF {
			return res, fmt.Errorf("read history line %d: %w", line+1, err)
		}
		line++
		last := err == io.EOF
		trimmed := bytes.TrimSpace(b)
		if len(trimmed) == 0 {
			if last {
				return res, nil
			}
			continue
		}
		op, perr := parseOp(trimmed, names)
		if perr == nil {
			perr = op.Valid()
		}
		if perr != nil {
			if last && errors.Is(perr, errTruncated) {
				res.Truncated = fmt.Sprintf("line %d ends early (%d bytes, no newline): left out, as a run that died mid-write leaves it", line, len(b))
				return res, nil
			}
			return res, fmt.Errorf("history line %d: %w", line, perr)
		}
		res.Records++
		if err := fn(op); err != nil {
			return res, err
		}
		if last {
			return res, nil
		}
	}
}

// ReadFile reads a whole history into memory.
func ReadFile(path string) ([]Op, ReadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ReadResult{}, err
	}
	defer f.Close()
	var ops []Op
	res, err := Read(f, func(o Op) error { ops = append(ops, o); return nil })
	if err != nil {
		return nil, res, fmt.Errorf("%s: %w", path, err)
	}
	return ops, res, nil
}

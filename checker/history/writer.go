package history

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"
)

// Writer streams records to history.jsonl as they happen: buffered, flushed
// at least every FlushEvery and on Close, so a crashed run leaves a
// checkable prefix. It is safe for concurrent use and numbers the records.
type Writer struct {
	mu    sync.Mutex
	w     *bufio.Writer
	c     io.Closer
	start time.Time
	next  int64
	buf   []byte
	err   error
	stop  chan struct{}
	done  chan struct{}
}

// FlushEvery is how often buffered records reach the file at the latest.
const FlushEvery = 100 * time.Millisecond

// NewWriter writes to w; times are measured from start (monotonic clock).
// If w is an io.Closer, Close closes it.
func NewWriter(w io.Writer, start time.Time) *Writer {
	hw := &Writer{w: bufio.NewWriterSize(w, 256<<10), start: start, stop: make(chan struct{}), done: make(chan struct{})}
	if c, ok := w.(io.Closer); ok {
		hw.c = c
	}
	go hw.flusher()
	return hw
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if w.err == nil {
				w.err = w.w.Flush()
			}
			w.mu.Unlock()
		}
	}
}

// Now is the time since the run started, in ns: the value of an Op's Time.
func (w *Writer) Now() int64 { return int64(time.Since(w.start)) }

// Start is when the run started.
func (w *Writer) Start() time.Time { return w.start }

// Append writes op with the next index (set on the returned copy) and, when
// op.Time is 0, the current time. The first write error is kept and
// returned by every later call.
func (w *Writer) Append(op Op) (Op, error) {
	if op.Time == 0 {
		op.Time = w.Now()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return op, w.err
	}
	op.Index = w.next
	w.next++
	w.buf = AppendJSON(w.buf[:0], op)
	w.buf = append(w.buf, '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("write history: %w", err)
	}
	return op, w.err
}

// Count is how many records were appended.
func (w *Writer) Count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// Close flushes and closes. It may be called more than once.
func (w *Writer) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if w.c != nil {
		if err := w.c.Close(); err != nil && w.err == nil {
			w.err = err
		}
		w.c = nil
	}
	return w.err
}

package history

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is the history's name in a run directory (DESIGN.md's run-directory
// contract).
const File = "history.jsonl"

// GzipFile is File compressed with gzip: the same bytes, which a soak with
// --gzip-history leaves in File's place once the run is judged.
const GzipFile = File + ".gz"

// Locate returns the path of run directory dir's history: File, or GzipFile
// when there is no File. Both are there only when a compression stopped
// between its rename and the removal of File; both are then complete, and
// File is taken because it reads faster. When neither is there the error is
// File's, wrapping fs.ErrNotExist.
func Locate(dir string) (path string, err error) {
	plain := filepath.Join(dir, File)
	_, err = os.Stat(plain)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return plain, err
	}
	gz := filepath.Join(dir, GzipFile)
	if _, gzErr := os.Stat(gz); gzErr == nil {
		return gz, nil
	} else if !errors.Is(gzErr, fs.ErrNotExist) {
		return gz, gzErr
	}
	return plain, err
}

// Source is a run directory's history opened for reading, plain or
// gzipped: Read gives the plain bytes either way.
type Source struct {
	// Path is the file opened: dir/File or dir/GzipFile.
	Path string
	// File is that file; its bytes are the history's only when Gzipped is
	// false (then a reader may seek in it or read it in sections).
	File    *os.File
	Gzipped bool
	r       io.Reader
}

// Open opens run directory dir's history (see Locate). The caller closes it.
func Open(dir string) (*Source, error) {
	path, err := Locate(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, File: f, r: f}
	if filepath.Base(path) != GzipFile {
		return s, nil
	}
	s.Gzipped = true
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: %w", path, errCutShort)
		}
		return nil, fmt.Errorf("%s: not a gzip file: %w", path, err)
	}
	s.r = gzipReader{zr}
	return s, nil
}

// Read reads the history's plain bytes.
func (s *Source) Read(p []byte) (int, error) { return s.r.Read(p) }

// Close closes the file.
func (s *Source) Close() error { return s.File.Close() }

// errCutShort is a gzip stream that ends before its trailer: a compression
// that was killed midway (the soak's writes to a temporary name, so only a
// copy made by other means ends up like this). Its complete lines are not
// taken silently as the history: the file is damaged, not a run's prefix.
var errCutShort = errors.New("the gzip stream is cut short (a compression that did not finish?); " +
	"`gzip -dc " + GzipFile + " > " + File + "` recovers what it holds, and " + File + " is then read instead, its last line left out if cut")

// gzipReader names a gzip stream cut short as such: compress/gzip says only
// "unexpected EOF".
type gzipReader struct{ zr *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errCutShort
	}
	return n, err
}

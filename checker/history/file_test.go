package history

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoLines = `{"index":0,"time":1,"process":0,"type":"invoke","f":"read","key":"{r:1}","value":null}
{"index":1,"time":2,"process":0,"type":"ok","f":"read","key":"{r:1}","value":3}
`

func gzipped(t *testing.T, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readDir reads dir's history through Open.
func readDir(t *testing.T, dir string) (*Source, []Op, ReadResult, error) {
	t.Helper()
	src, err := Open(dir)
	if err != nil {
		return nil, nil, ReadResult{}, err
	}
	defer src.Close()
	var ops []Op
	res, err := Read(src, func(o Op) error { ops = append(ops, o); return nil })
	return src, ops, res, err
}

func TestOpenPlainOrGzipped(t *testing.T) {
	// The gzipped history differs, to tell which one was read.
	gz := gzipped(t, strings.Replace(twoLines, `"value":3`, `"value":4`, 1))
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string // the file read
		value int64  // the ok read's value
	}{
		{"plain only", map[string][]byte{File: []byte(twoLines)}, File, 3},
		{"gzipped only", map[string][]byte{GzipFile: gz}, GzipFile, 4},
		// A compression stopped between its rename and the removal of
		// the plain file leaves both, each complete.
		{"both", map[string][]byte{File: []byte(twoLines), GzipFile: gz}, File, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.files {
				write(t, filepath.Join(dir, name), b)
			}
			path, err := Locate(dir)
			if err != nil || path != filepath.Join(dir, tc.want) {
				t.Fatalf("Locate: %s %v, want %s", path, err, tc.want)
			}
			src, ops, res, err := readDir(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if src.Path != path || src.Gzipped != (tc.want == GzipFile) {
				t.Errorf("opened %s gzipped %v", src.Path, src.Gzipped)
			}
			if len(ops) != 2 || res.Records != 2 || res.Truncated != "" || ops[1].Value != tc.value {
				t.Errorf("ops %+v, result %+v", ops, res)
			}
		})
	}
}

func TestOpenNoHistory(t *testing.T) {
	dir := t.TempDir()
	_, err := Locate(dir)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), File) {
		t.Errorf("Locate of an empty dir: %v", err)
	}
	if _, err := Open(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of an empty dir: %v", err)
	}
}

// TestGzippedTruncatedLastLine: a history whose writer died mid-record,
// compressed whole, reads as the plain one does.
func TestGzippedTruncatedLastLine(t *testing.T) {
	data := twoLines + `{"index":2,"time":3,"pro`
	dir := t.TempDir()
	write(t, filepath.Join(dir, GzipFile), gzipped(t, data))
	_, ops, res, err := readDir(t, dir)
	wantRes, wantErr := Read(strings.NewReader(data), func(Op) error { return nil })
	if err != nil || wantErr != nil {
		t.Fatal(err, wantErr)
	}
	if len(ops) != 2 || res != wantRes || !strings.Contains(res.Truncated, "line 3 ends early") {
		t.Errorf("ops %d, result %+v, want %+v", len(ops), res, wantRes)
	}
}

// TestGzipCutShort: a gzip stream cut at any byte (a compression killed
// midway, copied by hand) is an error that says so, never a panic and
// never a shorter history taken as the whole.
func TestGzipCutShort(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		sb.WriteString(twoLines)
	}
	full := gzipped(t, sb.String())
	dir := t.TempDir()
	for cut := 0; cut < len(full); cut++ {
		write(t, filepath.Join(dir, GzipFile), full[:cut])
		_, _, _, err := readDir(t, dir)
		if err == nil {
			t.Fatalf("cut at %d of %d bytes: no error", cut, len(full))
		}
		if !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("cut at %d of %d bytes: %v", cut, len(full), err)
		}
	}
	// A file that is not gzip at all.
	write(t, filepath.Join(dir, GzipFile), []byte(twoLines))
	if _, _, _, err := readDir(t, dir); err == nil || !strings.Contains(err.Error(), "not a gzip file") {
		t.Errorf("plain bytes under the gzip name: %v", err)
	}
	// A damaged byte in the middle: gzip's checksum or the deflate stream
	// says so.
	bad := bytes.Clone(full)
	bad[len(bad)/2] ^= 0xff
	write(t, filepath.Join(dir, GzipFile), bad)
	if _, _, _, err := readDir(t, dir); err == nil {
		t.Error("a damaged gzip stream read without error")
	} else if errors.Is(err, io.EOF) {
		t.Errorf("damaged: %v", err)
	}
}

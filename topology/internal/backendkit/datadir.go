package backendkit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-harness/harness/topology"
)

// The names Redis gives its files unless configured otherwise (the harness
// never overrides them).
const (
	aofDirName  = "appendonlydir"
	rdbFileName = "dump.rdb"
)

// newestIncrAOF finds the newest incremental file of the multi-part AOF in
// aofDir on this machine (NewestIncrAOF).
func newestIncrAOF(aofDir string) (string, error) {
	manifests, _ := filepath.Glob(filepath.Join(aofDir, "*.manifest"))
	manifest := ""
	if len(manifests) == 1 {
		b, err := os.ReadFile(manifests[0])
		if err != nil {
			return "", fmt.Errorf("read the AOF manifest: %w", err)
		}
		manifest = string(b)
	}
	files, _ := filepath.Glob(filepath.Join(aofDir, "*.incr.aof"))
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	best, err := NewestIncrAOF(aofDir, manifest, files)
	if err != nil {
		return "", err
	}
	return filepath.Join(aofDir, best), nil
}

// NewestIncrAOF names the newest incremental file of the multi-part AOF
// in aofDir (named in messages): the type-i file of highest seq in the
// manifest's text, or, without a manifest (""), the one of highest seq
// among incr, the dir's *.incr.aof file names.
func NewestIncrAOF(aofDir, manifest string, incr []string) (string, error) {
	best, bestSeq := "", int64(-1)
	if manifest != "" {
		sc := bufio.NewScanner(strings.NewReader(manifest))
		for sc.Scan() {
			// file appendonly.aof.3.incr.aof seq 3 type i
			fields := strings.Fields(sc.Text())
			kv := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				kv[fields[i]] = fields[i+1]
			}
			if kv["type"] != "i" || kv["file"] == "" {
				continue
			}
			seq, err := strconv.ParseInt(kv["seq"], 10, 64)
			if err == nil && seq > bestSeq {
				best, bestSeq = kv["file"], seq
			}
		}
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("read the AOF manifest in %s: %w", aofDir, err)
		}
	} else {
		for _, f := range incr {
			parts := strings.Split(f, ".")
			if len(parts) < 3 {
				continue
			}
			seq, err := strconv.ParseInt(parts[len(parts)-3], 10, 64)
			if err == nil && seq > bestSeq {
				best, bestSeq = f, seq
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("no incremental AOF file in %s (is appendonly yes?)", aofDir)
	}
	if strings.ContainsAny(best, "/\\") {
		return "", fmt.Errorf("the AOF manifest in %s names %q, not a file of that dir", aofDir, best)
	}
	return best, nil
}

// AOFDirName and RDBFileName are the names Redis gives its files unless
// configured otherwise (the harness never overrides them).
const (
	AOFDirName  = aofDirName
	RDBFileName = rdbFileName
)

// TruncateAOF cuts bytes off the newest incremental AOF file under dir.
func TruncateAOF(dir string, bytes int64) (topology.DiskReport, error) {
	rep := topology.DiskReport{Dir: dir}
	if bytes < 0 {
		return rep, fmt.Errorf("truncate AOF: %d bytes: want ≥ 0", bytes)
	}
	path, err := newestIncrAOF(filepath.Join(dir, aofDirName))
	if err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	cut := min(bytes, st.Size())
	if err := os.Truncate(path, st.Size()-cut); err != nil {
		return rep, fmt.Errorf("truncate AOF: %w", err)
	}
	rel, _ := filepath.Rel(dir, path)
	rep.Files, rep.Size, rep.Truncated = []string{rel}, st.Size(), cut
	return rep, nil
}

// WipeData removes the AOF dir and the RDB file under dir (and the temp
// files of a save or rewrite cut short), leaving nodes.conf and the rest.
func WipeData(dir string) (topology.DiskReport, error) {
	rep := topology.DiskReport{Dir: dir}
	if _, err := os.Stat(filepath.Join(dir, "nodes.conf")); err != nil {
		return rep, fmt.Errorf("wipe data: %s has no nodes.conf, so it is not a node's data dir: %w", dir, err)
	}
	targets := []string{aofDirName, rdbFileName}
	tmps, _ := filepath.Glob(filepath.Join(dir, "temp-*"))
	for _, t := range tmps {
		targets = append(targets, filepath.Base(t))
	}
	var errs []error
	for _, t := range targets {
		p := filepath.Join(dir, t)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Files = append(rep.Files, t)
	}
	sort.Strings(rep.Files)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("wipe data in %s: %w", dir, err)
	}
	return rep, nil
}

package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis-harness/harness/topology"
)

// The reshard kinds' params that shape MIGRATE (redis#1616, #1765): its
// timeout, and one big key in the first slot moved so that MIGRATE carries
// a payload that takes longer than that timeout.
const (
	paramMigrateTimeout = "migrate_timeout"
	paramBigKey         = "big_key"
)

// maxBigKey is the largest big_key: Redis refuses a bulk string over
// proto-max-bulk-len (512 MB by default), and MIGRATE sends the key as one.
const maxBigKey = 512 << 20

// bigKeyChunk is the size of each SET/APPEND that writes a big key, so that
// no command needs a longer timeout than the admin's.
const bigKeyChunk = 1 << 20

// migrateParams are the two params, decoded.
type migrateParams struct {
	timeout time.Duration // 0: the kind's default
	bigKey  int64         // bytes; 0: none
}

func parseMigrateParams(p Params) (migrateParams, error) {
	var m migrateParams
	if v := p.str(paramMigrateTimeout); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return m, fmt.Errorf("%s=%q: want a duration such as 5ms or 2s", paramMigrateTimeout, v)
		case d < time.Millisecond:
			// MIGRATE counts in whole milliseconds and takes 0 as 1000.
			return m, fmt.Errorf("%s=%q: want at least 1ms (MIGRATE's timeout is in milliseconds)", paramMigrateTimeout, v)
		case d%time.Millisecond != 0:
			return m, fmt.Errorf("%s=%q: want whole milliseconds (MIGRATE's timeout is in milliseconds)", paramMigrateTimeout, v)
		}
		m.timeout = d
	}
	if v := p.str(paramBigKey); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return m, fmt.Errorf("%s=%q: %w", paramBigKey, v, err)
		}
		if n > maxBigKey {
			return m, fmt.Errorf("%s=%q: at most 512MB, Redis's largest bulk string (proto-max-bulk-len), which MIGRATE sends the key as", paramBigKey, v)
		}
		m.bigKey = n
	}
	return m, nil
}

// parseSize reads a size such as 16MB, 512KB, 1.5GB or 4096 (bytes); the
// units are binary (1KB = 1024 bytes), KiB/MiB/GiB are accepted alike.
func parseSize(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f*float64(mult) < 1 {
		return 0, errors.New("want a size such as 16MB, 512KB or 4096 (bytes), above 0")
	}
	if f*float64(mult) > 1<<40 {
		return 0, errors.New("want a size below 1TB")
	}
	return int64(f * float64(mult)), nil
}

// sizeText is n in the largest binary unit that divides it ("16MB").
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// bigKeyName is the key a fault writes into slot: its hash tag puts it there.
func bigKeyName(slot int) string { return "{" + slotTag(slot) + "}nemesis:big" }

// writeBigKey writes a string of size bytes under key on the node at addr,
// SET then APPEND in chunks of 1 MB. A string, not a set or a sorted set:
// measured on 7.0.15 with a 16 MB key and a 5 ms timeout, the target's
// RESTORE of a string is the quickest of the types (~70 ms against 560-725 ms
// for a hash, set or sorted set), yet still far past the timeout, and MIGRATE
// failed reading the reply (the target had restored the key) 7 times out of
// 8, where a sorted set failed while writing (the target never had it) 3
// times out of 4. The bytes are pseudo-random letters because DUMP compresses strings
// with LZF: 16 MB of one letter crossed the wire as 180 KB.
func writeBigKey(ctx context.Context, a *topology.Admin, addr, key string, size int64) error {
	r := rand.New(rand.NewPCG(uint64(size), 1616))
	chunk := make([]byte, min(size, bigKeyChunk))
	for off := int64(0); off < size; off += int64(len(chunk)) {
		chunk = chunk[:min(int64(cap(chunk)), size-off)]
		for i := range chunk {
			chunk[i] = byte('a' + r.IntN(26))
		}
		cmd := "APPEND"
		if off == 0 {
			cmd = "SET"
		}
		if _, err := a.Do(ctx, addr, cmd, key, chunk); err != nil {
			return fmt.Errorf("write %s big key %s on %s: %w", sizeText(size), key, addr, err)
		}
	}
	return nil
}

// keyPlace says which of the two nodes hold key: "source", "target",
// "both" or "neither"; "unknown (…)" when one could not be asked.
func keyPlace(ctx context.Context, a *topology.Admin, key, src, dst string) string {
	onSrc, err := a.HoldsKey(ctx, src, key)
	if err != nil {
		return fmt.Sprintf("unknown (asking the source: %v)", err)
	}
	onDst, err := a.HoldsKey(ctx, dst, key)
	if err != nil {
		return fmt.Sprintf("unknown (asking the target: %v)", err)
	}
	switch {
	case onSrc && onDst:
		return "both"
	case onSrc:
		return "source"
	case onDst:
		return "target"
	}
	return "neither"
}

// migrateReport is what a reshard fault says about its MIGRATEs when
// migrate_timeout or big_key was given: the big key, whether a MIGRATE
// timed out, and where the key was when the migration ended and after fix.
// Its owner's mutex guards it.
type migrateReport struct {
	timeout  time.Duration // as given; 0: the kind's default
	key      string        // "" without big_key
	size     int64
	slot     int
	src, dst string // addresses

	ended      bool // the migration ended or stopped: timedOut and on are known
	timedOut   bool
	migrateErr string
	on         string // where the key was when the migration ended or stopped
	onAfterFix string
}

func (r *migrateReport) wanted() bool { return r.timeout > 0 || r.key != "" }

// stopped records how the migration ended and, with a big key, where it is.
func (r *migrateReport) stopped(ctx context.Context, a *topology.Admin, err error) {
	r.ended = true
	if errors.Is(err, topology.ErrMigrateTimeout) {
		r.timedOut, r.migrateErr = true, err.Error()
	}
	if r.key != "" {
		r.on = keyPlace(context.WithoutCancel(ctx), a, r.key, r.src, r.dst)
	}
}

// fixed records where the big key is after a fix.
func (r *migrateReport) fixed(ctx context.Context, a *topology.Admin) {
	if r.key != "" {
		r.onAfterFix = keyPlace(context.WithoutCancel(ctx), a, r.key, r.src, r.dst)
	}
}

// text is the part of a fault's description the params add.
func (r *migrateReport) text() string {
	var parts []string
	if r.key != "" {
		parts = append(parts, fmt.Sprintf("a %s key in slot %d", sizeText(r.size), r.slot))
	}
	if r.timeout > 0 {
		parts = append(parts, fmt.Sprintf("MIGRATE timeout %s", r.timeout))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// addTo puts the report in a fault's details.
func (r *migrateReport) addTo(d map[string]any) {
	if !r.wanted() {
		return
	}
	if r.timeout > 0 {
		d[paramMigrateTimeout] = r.timeout.String()
	}
	if r.ended {
		d["migrate_timed_out"] = r.timedOut
	}
	if r.migrateErr != "" {
		d["migrate_error"] = r.migrateErr
	}
	if r.key == "" {
		return
	}
	d["big_key"] = r.key
	d["big_key_bytes"] = r.size
	d["big_key_slot"] = int64(r.slot)
	if r.on != "" {
		d["big_key_on"] = r.on
	}
	if r.onAfterFix != "" {
		d["big_key_on_after_fix"] = r.onAfterFix
	}
}

// prepare writes the big key, when one is asked for, into slot on the
// source, and fills in the report.
func (m migrateParams) prepare(ctx context.Context, env *Env, slot int, from, to member) (*migrateReport, error) {
	r := &migrateReport{timeout: m.timeout, size: m.bigKey, slot: slot, src: from.Addr, dst: to.Addr}
	if m.bigKey > 0 {
		r.key = bigKeyName(slot)
		if err := writeBigKey(ctx, env.Admin, from.Addr, r.key, m.bigKey); err != nil {
			return nil, err
		}
	}
	return r, nil
}

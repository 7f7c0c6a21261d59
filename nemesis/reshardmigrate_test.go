package nemesis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis-harness/harness/topology"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"16MB": 16 << 20, "512KB": 512 << 10, "512kb": 512 << 10, "1.5MB": 3 << 19, "2MiB": 2 << 20,
		"1G": 1 << 30, "4096": 4096, "100B": 100, " 8 MB ": 8 << 20}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "big", "-1MB", "0", "0.1B", "16TB", "2048GB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16MB", 512 << 10: "512KB", 1000: "1000B", 3 << 19: "1536KB"} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMigrateParams(t *testing.T) {
	bad := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"reshard", map[string]string{"migrate_timeout": "soon"}, `migrate_timeout="soon": want a duration`},
		{"reshard", map[string]string{"migrate_timeout": "500us"}, "want at least 1ms"},
		{"reshard", map[string]string{"migrate_timeout": "-5ms"}, "want at least 1ms"},
		{"reshard", map[string]string{"migrate_timeout": "1500us"}, "want whole milliseconds"},
		{"reshard", map[string]string{"big_key": "huge"}, `big_key="huge": want a size such as 16MB`},
		{"reshard", map[string]string{"big_key": "0"}, "above 0"},
		{"reshard", map[string]string{"big_key": "1GB"}, "at most 512MB"},
		{"reshard-interrupted", map[string]string{"big_key": "16 parsecs"}, `big_key="16 parsecs"`},
		{"reshard-interrupted", map[string]string{"migrate_timeout": "0s"}, "want at least 1ms"},
	}
	for _, tt := range bad {
		_, err := New(tt.name, tt.params)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s, %v) = %v, want an error with %q", tt.name, tt.params, err, tt.want)
		}
	}
	n, err := New("reshard", map[string]string{"migrate_timeout": "5ms", "big_key": "16MB", "slots": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if r := n.(reshard); r.mig != (migrateParams{timeout: 5 * time.Millisecond, bigKey: 16 << 20}) || r.slots != 3 {
		t.Errorf("reshard params = %+v", r)
	}
	n, err = New("reshard-interrupted", map[string]string{"migrate_timeout": "2s", "big_key": "512KB"})
	if err != nil {
		t.Fatal(err)
	}
	if r := n.(reshardInterrupted); r.mig != (migrateParams{timeout: 2 * time.Second, bigKey: 512 << 10}) {
		t.Errorf("reshard-interrupted params = %+v", r)
	}
	n, err = New("reshard", nil)
	if err != nil || n.(reshard).mig != (migrateParams{}) {
		t.Errorf("reshard without the params = %+v, %v; want no timeout (Reshard's 60 s) and no big key", n, err)
	}
}

func TestBigKeyName(t *testing.T) {
	for _, slot := range []int{0, 1616, 5461, topology.NumSlots - 1} {
		if got := topology.KeySlot(bigKeyName(slot)); got != slot {
			t.Errorf("bigKeyName(%d) = %q hashes to slot %d", slot, bigKeyName(slot), got)
		}
	}
}

// TestReshardBigKey runs the reshard fault with a 16 MB key and a 5 ms
// MIGRATE timeout, fix=false. Whether MIGRATE times out is up to Redis and
// the machine, so the test accepts either outcome and checks that the
// fault's details say which and where the key is, truthfully; then a fix
// leaves one copy of the key, intact.
func TestReshardBigKey(t *testing.T) {
	eachBackend(t, "bigkey", 3, 0, false, func(t *testing.T, env *Env, rec *memRec) {
		ctx := context.Background()
		n, err := New("reshard", map[string]string{"slots": "2", "fix": "false", "migrate_timeout": "5ms", "big_key": "16MB"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := n.Inject(ctx, env, "slot-master:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("in effect: %s", f)
		if err := f.Heal(ctx); err != nil { // waits for the move to end
			t.Fatal(err)
		}
		d := f.(Described).Details()
		t.Logf("details: %v", d)
		key, _ := d["big_key"].(string)
		if key != bigKeyName(0) || d["big_key_bytes"] != int64(16<<20) || d["big_key_slot"] != int64(0) || d["migrate_timeout"] != "5ms" {
			t.Fatalf("details %v: want the big key %q of 16MB in slot 0 and the 5ms timeout", d, bigKeyName(0))
		}
		src, dst := f.(Described).Nodes()[0], f.(Described).Nodes()[1]
		onSrc, err1 := env.Admin.HoldsKey(ctx, src, key)
		onDst, err2 := env.Admin.HoldsKey(ctx, dst, key)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		want := map[[2]bool]string{{true, true}: "both", {true, false}: "source", {false, true}: "target", {false, false}: "neither"}[[2]bool{onSrc, onDst}]
		if d["big_key_on"] != want {
			t.Errorf("big_key_on = %v, but the key is on: %s", d["big_key_on"], want)
		}
		timedOut := d["migrate_timed_out"] == true
		switch {
		case timedOut && (d["moved"] != int64(0) || !strings.Contains(d["reshard_error"].(string), "MIGRATE timed out") || !onSrc):
			t.Errorf("a timed out MIGRATE: details %v; the source must keep the key and nothing be reported moved", d)
		case !timedOut && (d["moved"] != int64(2) || want != "target"):
			t.Errorf("no timeout: details %v, key on %s; want 2 slots moved and the key on the target", d, want)
		}
		if !timedOut {
			t.Log("MIGRATE did not time out here")
			return
		}
		res, err := env.Admin.Fix(ctx, env.Addrs())
		if err != nil {
			t.Fatalf("fix: %v (%v)", err, res)
		}
		waitHealthy(t, env, 3, 0)
		snap := env.Admin.Snapshot(ctx, env.Addrs())
		copies := 0
		for _, v := range snap.Reachable() {
			if on, err := env.Admin.HoldsKey(ctx, v.Addr, key); err != nil {
				t.Fatal(err)
			} else if on {
				copies++
			}
		}
		owner := snap.AddrOf(snap.Owners()[0])
		if v, err := env.Admin.Do(ctx, owner, "STRLEN", key); copies != 1 || err != nil || v != int64(16<<20) {
			t.Errorf("after fix: %d copies, STRLEN on the owner %s = %v (%v); want one copy of 16MB", copies, owner, v, err)
		}
	})
}

package reports

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis-harness/harness/checker/history"
)

// fault is one fault of the nemesis timeline, from its records in the
// history (process -1, type info, f the fault's name): the record that put
// it in effect, whose value holds the target, the nodes and the params, and
// the one that healed it, whose value has "heal": true.
type fault struct {
	N      int
	F      string
	Target string
	Nodes  []string
	// Effect is the fault's own description ("partition [a] | [b c]").
	Effect string
	Params string
	// Start is when it took effect; End when it was healed, or the end of
	// the run when it never was (Healed false).
	Start, End int64
	Healed     bool
	// Latency is how late it took effect after it was scheduled, when known.
	Latency time.Duration
	// Error is why it did not take effect (then it never was in effect);
	// HealError why its heal failed.
	Error, HealError string
	// Orphan is a heal whose start is not in the history.
	Orphan bool
	// Action is the timeline's action number, -1 when the records have none.
	Action int64
	// HealTook is how long the heal took, from results.json's "nemesis".
	HealTook time.Duration
	// ClientRecovery and RateRatio are the recovery checker's figures for
	// the action, in words ("" when results.json has none).
	ClientRecovery, RateRatio string
}

// active is true when the fault was in effect at t.
func (f *fault) active(t int64) bool { return f.Error == "" && !f.Orphan && t >= f.Start && t <= f.End }

// buildFaults pairs the nemesis records into faults, in the order they took
// effect. Heals match their fault by the value's "action" number when both
// have one, else by f, first in first out. runEnd closes faults never healed.
func buildFaults(recs []history.Op, runEnd int64) []*fault {
	var out []*fault
	open := map[string][]*fault{}
	for _, r := range recs {
		if r.Type == history.Invoke {
			continue // an announcement; the info record says what happened
		}
		v, _ := r.Value.(map[string]any)
		key := "f:" + r.F
		if a, ok := history.Int(v["action"]); ok && v != nil {
			key = fmt.Sprintf("a:%d", a)
		}
		if heal, _ := v["heal"].(bool); heal {
			if q := open[key]; len(q) > 0 {
				f := q[0]
				open[key] = q[1:]
				if r.Error != "" {
					// Still in effect: a later heal (the end of the run's) may close it.
					f.HealError = r.Error
					open[key] = append([]*fault{f}, open[key]...)
					continue
				}
				f.End, f.Healed = r.Time, true
				continue
			}
			f := describeFault(r, v)
			f.Start, f.End, f.Orphan, f.Healed = r.Time, r.Time, true, r.Error == ""
			f.HealError = r.Error
			out = append(out, f)
			continue
		}
		f := describeFault(r, v)
		f.Start, f.End = r.Time, runEnd
		f.Error = r.Error
		out = append(out, f)
		if f.Error == "" {
			open[key] = append(open[key], f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	for i, f := range out {
		f.N = i + 1
		f.End = max(f.End, f.Start)
	}
	return out
}

// knownFaultKeys are the value's fields shown in their own columns.
var knownFaultKeys = map[string]bool{"action": true, "target": true, "heal": true, "fault": true, "nodes": true, "scheduled_ns": true, "latency_ns": true, "for_ns": true}

func describeFault(r history.Op, v map[string]any) *fault {
	f := &fault{F: r.F, Action: -1}
	if a, ok := history.Int(v["action"]); ok && v != nil {
		f.Action = a
	}
	if v == nil {
		if r.Value != nil {
			f.Params = compactJSON(r.Value, 200)
		}
		return f
	}
	f.Target, _ = v["target"].(string)
	f.Effect, _ = v["fault"].(string)
	if ns, ok := v["nodes"].([]any); ok {
		for _, n := range ns {
			f.Nodes = append(f.Nodes, fmt.Sprint(n))
		}
	}
	if l, ok := history.Int(v["latency_ns"]); ok {
		f.Latency = time.Duration(l).Round(100 * time.Microsecond)
	}
	var keys []string
	for k := range v {
		if !knownFaultKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+compactJSON(v[k], 120))
	}
	f.Params = strings.Join(parts, " ")
	return f
}

// compactJSON writes v as JSON, cut to limit bytes with a note of the size.
// The page escapes it: the encoder's own HTML escaping (\u003c) would only
// make values harder to read.
func compactJSON(v any, limit int) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return cut(strings.TrimSuffix(b.String(), "\n"), limit)
}

// cut shortens s to about limit bytes, at a rune boundary, saying how long it was.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}

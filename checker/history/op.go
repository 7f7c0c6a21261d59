package history

import "fmt"

// Type is an op record's type: an invocation or one of its three outcomes.
type Type string

// The four types, with Jepsen's meanings.
const (
	Invoke Type = "invoke" // the op was sent
	OK     Type = "ok"     // it happened, with this result
	Fail   Type = "fail"   // it certainly did not take effect
	Info   Type = "info"   // unknown: it may or may not have taken effect
)

// NemesisProcess is the process of the nemesis's records.
const NemesisProcess = -1

// Op is one line of history.jsonl (DESIGN.md's history contract).
//
// Value holds what JSON holds, decoded as: nil, bool, int64 (integers),
// float64 (other numbers), string, []any, map[string]any.
type Op struct {
	Index     int64  `json:"index"`
	Time      int64  `json:"time"` // ns since the run started
	Process   int    `json:"process"`
	Type      Type   `json:"type"`
	F         string `json:"f"`
	Key       string `json:"key"`
	Value     any    `json:"value"`
	Error     string `json:"error,omitempty"`
	Node      string `json:"node,omitempty"`
	Redirects int    `json:"redirects,omitempty"`
}

// IsClient is true for client ops (process ≥ 0), false for the nemesis.
func (o Op) IsClient() bool { return o.Process >= 0 }

func (o Op) String() string {
	s := fmt.Sprintf("#%d p%d %s %s %s %v", o.Index, o.Process, o.Type, o.F, o.Key, o.Value)
	if o.Error != "" {
		s += " (" + o.Error + ")"
	}
	return s
}

// Valid checks the fields every record must have right.
func (o Op) Valid() error {
	switch o.Type {
	case Invoke, OK, Fail, Info:
	default:
		return fmt.Errorf("type %q: want invoke, ok, fail or info", o.Type)
	}
	if o.Process < NemesisProcess {
		return fmt.Errorf("process %d: want ≥ 0, or -1 for the nemesis", o.Process)
	}
	if o.F == "" {
		return fmt.Errorf("f is empty")
	}
	if o.Time < 0 {
		return fmt.Errorf("time %d: want ns since the run started, ≥ 0", o.Time)
	}
	return nil
}

// Int reads v as an integer, as register values and counter reads are.
func Int(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case float64:
		if t == float64(int64(t)) {
			return int64(t), true
		}
	case int:
		return int64(t), true
	}
	return 0, false
}

package reports

import (
	"encoding/json"
	"fmt"

	"github.com/redis-harness/harness/checker"
)

// recoveryText says an action's client recovery in words: the figure, or
// why there is none.
func recoveryText(a checker.ActionRecovery) string {
	moved := ""
	if a.MovedS != nil {
		moved = fmt.Sprintf("; the slots' new owner served them %.3f s after the fault began", *a.MovedS)
	}
	switch {
	case a.ClientRecoveryS != nil:
		s := fmt.Sprintf("%.3f s", *a.ClientRecoveryS)
		if a.SlowestSlot != nil && len(a.Moved) > 1 {
			s += fmt.Sprintf(" (slowest of %d slots: %d)", len(a.Moved), *a.SlowestSlot)
		}
		return s + moved
	case len(a.Moved) > 0:
		return "never: " + a.Reason + moved
	case a.Reason != "":
		return "— (" + a.Reason + ")"
	}
	return "—"
}

// rateText says an action's ok-op rate against the rate before it.
func rateText(a checker.ActionRecovery) string {
	if a.RateRatio != nil {
		return fmt.Sprintf("%.0f %% (%.0f → %.0f ok/s)", *a.RateRatio*100, deref(a.RateBefore), deref(a.RateDuring))
	}
	if a.RateReason != "" {
		return "— (" + a.RateReason + ")"
	}
	return "—"
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// attachRecovery gives each fault of the timeline its action's figures
// from results.json's checkers.recovery (matched by action number and f,
// else by f and order).
func attachRecovery(faults []*fault, raw json.RawMessage) {
	if raw == nil {
		return
	}
	var r checker.RecoveryResult
	if json.Unmarshal(raw, &r) != nil {
		return
	}
	used := make([]bool, len(r.Actions))
	for _, f := range faults {
		if f.Error != "" || f.Orphan {
			continue
		}
		for i, a := range r.Actions {
			if used[i] || a.F != f.F || (a.Action >= 0 && f.Action >= 0 && a.Action != f.Action) {
				continue
			}
			used[i] = true
			f.ClientRecovery, f.RateRatio = recoveryText(a), rateText(a)
			break
		}
	}
}

func (e *explainer) recoverySection(raw json.RawMessage, s *section) error {
	var r checker.RecoveryResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	most := "—"
	if r.MaxClientRecoveryS != nil {
		most = fmt.Sprintf("%.3f s", *r.MaxClientRecoveryS)
	}
	least := "—"
	if r.MinRateRatio != nil {
		least = fmt.Sprintf("%.0f %%", *r.MinRateRatio*100)
	}
	s.Facts = []fact{{"actions", num(len(r.Actions))}, {"slowest client recovery", most}, {"never recovered", num(r.NeverRecovered)}, {"lowest ok rate during a fault", least}}
	if r.Note != "" {
		s.Notes = append(s.Notes, r.Note)
	}
	s.Notes = append(s.Notes, "Client recovery: from the first topology sample in which the node that took over a slot the clients used serves it (every reachable node agreeing), or from the first op on the slot after that if none was under way, to the first ok op on that slot it answered; the slowest slot counts. Ok rate: ok ops per second while the fault lasted (a failover or reshard: its inject), against the 5 s before it.")
	t := table{Title: "Per action", Head: []string{"#", "fault", "started", "ended", "client recovery", "ok rate vs before"}}
	mt := table{Title: "Slots that changed owner", Head: []string{"action", "slot", "key", "from", "to", "samples agree", "first ok there", "recovery", "ops sent after"}}
	for i, a := range r.Actions {
		if i >= maxFaultRows {
			t.Note = fmt.Sprintf("%d more actions not shown.", len(r.Actions)-maxFaultRows)
			break
		}
		name := a.F
		if a.Fault != "" {
			name += ": " + cut(a.Fault, 80)
		}
		end := fmt.Sprintf("%.3f s", secs(a.End))
		if !a.Healed {
			end += " (its inject's end)"
		}
		t.Rows = append(t.Rows, []string{num(i + 1), name, fmt.Sprintf("%.3f s", secs(a.Start)), end, recoveryText(a), rateText(a)})
		for j, m := range a.Moved {
			if j >= 20 {
				break
			}
			first, rec := "never", "—"
			if m.FirstOK != nil {
				first = fmt.Sprintf("%.3f s", secs(*m.FirstOK))
			}
			if m.RecoveryS != nil {
				rec = fmt.Sprintf("%.3f s", *m.RecoveryS)
			}
			mt.Rows = append(mt.Rows, []string{num(i + 1), num(m.Slot), cut(m.Key, 60), m.From, m.To, fmt.Sprintf("%.3f s", secs(m.Topology)), first, rec, num(m.Sent)})
		}
	}
	if len(t.Rows) > 0 {
		s.Tables = append(s.Tables, t)
	}
	if len(mt.Rows) > 0 {
		s.Tables = append(s.Tables, mt)
	}
	return nil
}

package incidents

import (
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Build turns a Tracker event into the incident receivers hear about: the rule's
// knowledge, the lines, where and when. The snapshot and the advice that holds on it
// are the enrich stage's to add (enrich.Attach); until then Advice is empty.
func Build(r *rules.Rule, ev Event, host string) *Incident {
	st := ev.State
	inc := &Incident{
		Schema: Schema,
		Status: StatusFiring,
		Key:    st.Key,
		Rule: RuleRef{
			ID: r.ID, Title: r.Title, Severity: string(r.Severity), Tags: r.Tags,
		},
		Host:      host,
		Source:    st.Source,
		Labels:    st.Labels,
		Count:     st.Count,
		Folded:    st.Folded,
		Captures:  st.Captures,
		FirstSeen: st.FirstSeen,
		LastSeen:  st.LastSeen,
		RootCause: Reflow(r.RootCause),
		Docs:      r.Docs,
		Lines:     make([]Line, 0, len(st.Lines)),
		Advice:    []Advice{},
	}
	if ev.Kind == Resolve {
		inc.Status = StatusResolved
		at := st.ResolvedAt
		if at.IsZero() { // a state stored by an older release
			at = st.LastSeen
		}
		inc.ResolvedAt = &at
	}
	if read := st.Heard; read.Sub(st.LastSeen) > lateAfter {
		inc.ReadAt = &read
	}
	for _, l := range st.Lines {
		inc.Lines = append(inc.Lines, Line(l))
	}
	for _, d := range r.DeadEnds {
		inc.DeadEnds = append(inc.DeadEnds, DeadEnd{Action: Reflow(d.Action), Why: Reflow(d.Why), FailRate: d.FailRate})
	}
	inc.Summary = inc.Headline()
	return inc
}

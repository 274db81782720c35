package incidents

import (
	"sort"
	"strings"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
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
		RootCause: r.RootCause,
		Docs:      r.Docs,
		Lines:     make([]Line, 0, len(st.Lines)),
		Advice:    []Advice{},
	}
	if ev.Kind == Resolve {
		inc.Status = StatusResolved
		at := st.LastSeen
		inc.ResolvedAt = &at
	}
	for _, l := range st.Lines {
		inc.Lines = append(inc.Lines, Line(l))
	}
	for _, d := range r.DeadEnds {
		inc.DeadEnds = append(inc.DeadEnds, DeadEnd{Action: d.Action, Why: d.Why, FailRate: d.FailRate})
	}
	inc.Summary = summary(r, st, host)
	return inc
}

// summary is one line a pager can show: the title, where, and the telling captures.
func summary(r *rules.Rule, st State, host string) string {
	var b strings.Builder
	b.WriteString(r.Title)
	where := host
	for _, k := range sources.WhereLabels {
		if v := st.Labels[k]; v != "" {
			where = v + " on " + host
			break
		}
	}
	if where != "" {
		b.WriteString(" (")
		b.WriteString(where)
		b.WriteString(")")
	}
	var caps []string
	for _, k := range []string{rules.CaptureTask, rules.CaptureComm, rules.CapturePID} {
		if v := st.Captures[k]; v != "" {
			caps = append(caps, k+"="+v)
		}
	}
	sort.Strings(caps)
	if len(caps) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(caps, " "))
	}
	return b.String()
}

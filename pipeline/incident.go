package pipeline

import (
	"sort"
	"strings"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// BuildIncident turns a tracker event into the incident receivers hear about: the
// rule's knowledge, the lines, and the advice that holds on this snapshot for the
// process the incident is about. snap may be nil (replay without a snapshot): then
// only unconditional advice is given. target is that process as the enricher read it
// (Enricher.Target); nil picks it from the snapshot's process table.
func BuildIncident(r *rules.Rule, ev matcher.Event, host string, snap *facts.Snapshot, target *facts.Target) *notifiers.Incident {
	st := ev.State
	inc := &notifiers.Incident{
		Schema: notifiers.Schema,
		Status: notifiers.StatusFiring,
		Key:    st.Key,
		Rule: notifiers.RuleRef{
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
		Snapshot:  snap,
		Lines:     make([]notifiers.Line, 0, len(st.Lines)),
		Advice:    []notifiers.Advice{},
	}
	if ev.Kind == matcher.Resolve {
		inc.Status = notifiers.StatusResolved
		at := st.LastSeen
		inc.ResolvedAt = &at
	}
	for _, l := range st.Lines {
		inc.Lines = append(inc.Lines, notifiers.Line{Time: l.Time, Text: l.Text, Stream: l.Stream})
	}
	for _, d := range r.DeadEnds {
		inc.DeadEnds = append(inc.DeadEnds, notifiers.DeadEnd{Action: d.Action, Why: d.Why, FailRate: d.FailRate})
	}
	var applied []enrich.Applied
	if snap != nil {
		t := enrich.TargetFrom(*snap, r.ID, st.Captures, st.Labels)
		if target != nil {
			t = *target
		}
		env := enrich.NewEnv(*snap, t, st.Captures, st.Labels)
		applied = enrich.Reconcile(enrich.Advise(r, env), env)
	} else {
		applied = enrich.Unconditional(r, facts.Env{Captures: st.Captures, Labels: st.Labels})
	}
	for _, a := range applied {
		inc.Advice = append(inc.Advice, notifiers.Advice{Text: a.Text, When: a.When, Facts: a.Facts, SuccessRate: a.SuccessRate})
	}
	inc.Summary = summary(r, st, host)
	return inc
}

// summary is one line a pager can show: the title, where, and the telling captures.
func summary(r *rules.Rule, st matcher.State, host string) string {
	var b strings.Builder
	b.WriteString(r.Title)
	where := host
	for _, k := range []string{"container_name", "container", "pod", "unit"} {
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
	for _, k := range []string{"task", "comm", "pid"} {
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

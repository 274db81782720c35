package enrich

import (
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Attach adds the snapshot to an incident Build made, and the advice of r that holds
// on it for the process the incident is about, rendered for this host. snap may be
// nil (replay without a snapshot): then only unconditional advice is given. target is
// that process as the enricher read it (Enricher.Target); nil picks it from the
// snapshot's process table.
//
// The snapshot names the incident's host: the configured host name, which may differ
// from the kernel's (a node's name against its VM's), so that one page never names two.
func Attach(inc *incidents.Incident, r *rules.Rule, snap *facts.Snapshot, target *facts.Target) {
	if snap != nil && inc.Host != "" && snap.Host != inc.Host {
		s := *snap
		s.Host = inc.Host
		snap = &s
	}
	inc.Snapshot = snap
	var applied []Applied
	if snap != nil {
		t := TargetFrom(*snap, r.ID, inc.Captures, inc.Labels)
		if target != nil {
			t = *target
		}
		env := NewEnv(*snap, t, inc.Captures, inc.Labels)
		applied = Reconcile(Advise(r, env), env)
	} else {
		applied = Unconditional(r, facts.Env{Captures: inc.Captures, Labels: inc.Labels})
	}
	inc.Advice = make([]incidents.Advice, 0, len(applied))
	for _, a := range applied {
		inc.Advice = append(inc.Advice, incidents.Advice{Text: a.Text, When: a.When, Facts: a.Facts, SuccessRate: a.SuccessRate})
	}
	inc.Summary = inc.Headline() // the one thing to do comes from the advice
}

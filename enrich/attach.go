package enrich

import (
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Attach adds the snapshot to an incident Build made, and the advice of r that holds
// on it, rendered for this host. snap may be nil (replay without a snapshot): then only
// unconditional advice is given.
func Attach(inc *incidents.Incident, r *rules.Rule, snap *facts.Snapshot) {
	inc.Snapshot = snap
	env := facts.Env{Captures: inc.Captures, Labels: inc.Labels}
	var applied []Applied
	if snap != nil {
		env.Snapshot = *snap
		applied = Reconcile(Advise(r, env), env)
	} else {
		applied = Unconditional(r, env)
	}
	inc.Advice = make([]incidents.Advice, 0, len(applied))
	for _, a := range applied {
		inc.Advice = append(inc.Advice, incidents.Advice{Text: a.Text, When: a.When, Facts: a.Facts, SuccessRate: a.SuccessRate})
	}
}

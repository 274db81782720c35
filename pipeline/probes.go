package pipeline

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// probeLoop takes a fresh snapshot every interval for the probe rules.
func (p *Pipeline) probeLoop(ctx context.Context, out chan<- facts.Snapshot) error {
	interval := p.cfg.Snapshot.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s := p.inc.enricher.Fresh(ctx)
		select {
		case out <- s:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// evalProbes runs every probe rule's condition on s.
func (p *Pipeline) evalProbes(s facts.Snapshot) []incidents.Event {
	env := facts.Env{Snapshot: s}
	var events []incidents.Event
	for _, r := range p.rules.probes {
		firing, err := r.Probe.Condition.Eval(env)
		if err != nil {
			p.log.Warn("probe condition failed", zap.String("rule", r.ID), zap.Error(err))
			continue
		}
		kd := rules.KeyData{Rule: r.ID, Host: p.id.Host, Node: p.id.Node}
		events = append(events, p.inc.tracker.Probe(r, firing, kd)...)
	}
	return events
}

// evalResolve resolves the open incidents of rules with a resolve condition that
// holds on s (the setting a warning is about was fixed).
func (p *Pipeline) evalResolve(s facts.Snapshot) []incidents.Event {
	var events []incidents.Event
	for _, r := range p.rules.resolved {
		events = append(events, p.inc.tracker.ResolveIf(r, func(st incidents.State) bool {
			ok, err := r.ResolveWhen.Eval(facts.Env{Snapshot: s, Captures: st.Captures, Labels: st.Labels})
			if err != nil {
				p.log.Warn("resolve condition failed", zap.String("rule", r.ID), zap.Error(err))
			}
			return ok
		})...)
	}
	return events
}

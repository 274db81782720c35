package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/state"
)

// commit writes what the batch implies in one store transaction and waits for it:
// see prepare and finish. The batch is reset once it is prepared.
func (p *Pipeline) commit(ctx context.Context, b *batch, snap *facts.Snapshot) error {
	w, err := p.prepare(ctx, b, snap)
	if err != nil {
		return err
	}
	w.write(ctx, p.out.store, p.metrics.commits)
	return p.finish(ctx, w)
}

// pending is one store transaction: prepared by the loop, written by the store on
// a goroutine of its own or the loop's, and finished by the loop.
type pending struct {
	sb       state.Batch
	fresh    []state.Delivery // the batch's own notifications (sb has what waited too)
	degraded bool             // an earlier commit failed: sb holds what it could not write
	unsent   notifiers.Unsent // with degraded: the notifications memory had not delivered

	err  error         // written: the store's answer
	done chan struct{} // closed once written, when written on its own goroutine
}

// write commits w.sb (an empty batch is not written) and observes how long the store
// took in took, as soon as it answers: the store wakes the dispatcher at once, which
// may deliver what the commit queued before the loop takes the answer in.
func (w *pending) write(ctx context.Context, st *state.Store, took prometheus.Observer) {
	if w.sb.Empty() {
		return
	}
	start := time.Now()
	w.err = st.Commit(ctx, w.sb)
	took.Observe(time.Since(start).Seconds())
}

// prepare turns the batch into one store transaction: the notifications of its
// events, the incidents they changed and the cursors past their lines, with whatever
// an earlier commit could not write. snap is the probes' snapshot, or nil to take one
// when a notification needs it. The batch is reset: the loop goes on filling it with
// the lines that follow while this transaction is written.
func (p *Pipeline) prepare(ctx context.Context, b *batch, snap *facts.Snapshot) (*pending, error) {
	p.inc.join.Note(b.events)
	sb := state.Batch{Cursors: sortedCursors(b.cursors)}
	var err error
	if sb.Deliveries, err = p.notifications(ctx, b.events, snap); err != nil {
		return nil, err
	}
	if sb.Incidents, sb.Forget, err = p.incidentChanges(); err != nil {
		return nil, err
	}
	b.reset()
	w := &pending{sb: sb, fresh: sb.Deliveries}
	// While the store refuses writes (a full disk, a read-only remount) cowbell goes
	// on: the batch's notifications are delivered from memory, its cursors and
	// incident changes wait in memory for the next commit, and the cursors on disk
	// stay where they were, so a crash meanwhile reads those lines again rather than
	// lose them. Once a commit succeeds, what memory had not delivered yet is
	// committed with it.
	if w.degraded = !p.out.unsaved.Empty() || p.health.storeError() != ""; w.degraded {
		w.unsent = p.out.dispatcher.Unsent()
		w.sb = p.out.unsaved.Merge(state.Batch{Deliveries: w.unsent.Deliveries}).Merge(sb)
	}
	return w, nil
}

// finish takes in the store's answer to a prepared transaction. A refusal is said
// loudly (log, metric, /readyz), not returned: cowbell must keep watching.
func (p *Pipeline) finish(ctx context.Context, w *pending) error {
	sb, err := w.sb, w.err
	if err == nil {
		if w.degraded {
			w.unsent.Stored()
		}
		p.out.unsaved = state.Batch{}
		if w.degraded {
			p.log.Info("state store takes writes again: cursors, incidents and notifications saved",
				zap.Int("notifications", len(sb.Deliveries)))
		}
		p.health.storeFailed(nil)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("commit %d notifications and %d cursors: %w", len(sb.Deliveries), len(sb.Cursors), err)
	}
	p.metrics.storeFailures.Inc()
	if p.health.storeError() != err.Error() {
		p.log.Error("state store refuses writes: notifying from memory, cursors held back until it takes them",
			zap.Int("notifications", len(sb.Deliveries)), zap.Error(err))
	}
	p.health.storeFailed(err)
	p.out.dispatcher.Offer(w.fresh) // the unsent ones are in the lanes already
	sb.Deliveries = nil
	p.out.unsaved = sb
	return nil
}

func sortedCursors(m map[string]sources.Cursor) []sources.Cursor {
	out := make([]sources.Cursor, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out
}

// notifications builds, enriches, routes and encodes the incident of each event that
// receivers hear of, one delivery per receiver. A late event is counted, not sent;
// an event about a process another incident's page already covers updates that page
// (Tracker.Page).
func (p *Pipeline) notifications(ctx context.Context, events []incidents.Event, snap *facts.Snapshot) ([]state.Delivery, error) {
	var out []state.Delivery
	for _, ev := range events {
		p.metrics.events.WithLabelValues(ev.State.Rule, ev.Kind.String()).Inc()
		if ev.Late && ev.Kind.Notify() {
			p.metrics.late.WithLabelValues(ev.State.Rule, ev.Kind.String()).Inc()
			p.log.Info("late event recorded, not paged", zap.String("rule", ev.State.Rule), zap.String("incident", ev.State.Key),
				zap.Stringer("event", ev.Kind), zap.Time("last_seen", ev.State.LastSeen))
		}
		if !ev.Notify() {
			continue
		}
		for _, pev := range p.inc.tracker.Page(ev, p.inc.join.Lookup(ev.State)) {
			if snap == nil {
				s := p.inc.enricher.Snapshot(ctx)
				snap = &s
			}
			ds, err := p.deliveries(pev, snap)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
	}
	return out, nil
}

// deliveries builds the incident of one event that receivers hear of and encodes it
// for each receiver it is routed to.
func (p *Pipeline) deliveries(ev incidents.Event, snap *facts.Snapshot) ([]state.Delivery, error) {
	inc, err := p.incident(ev, snap)
	if errors.Is(err, errUnknownRule) {
		return nil, nil // a rule removed from the configuration while its incident was open
	}
	inc.SetRelated(incidents.Causes(p.inc.join.Lookup(ev.State), p.rules.rule))
	body, err := json.Marshal(inc)
	if err != nil {
		return nil, fmt.Errorf("encode incident %s: %w", inc.Key, err)
	}
	var out []state.Delivery
	for _, name := range p.out.router.Route(inc) {
		out = append(out, state.Delivery{Notifier: name, Key: inc.Key, Status: string(inc.Status), Incident: body})
	}
	p.log.Info("incident "+ev.Kind.String(), zap.String("rule", inc.Rule.ID), zap.String("incident", inc.Key),
		zap.Int("count", inc.Count), zap.Int("folded", inc.Folded))
	return out, nil
}

// incidentChanges encodes what the tracker changed since the last commit.
func (p *Pipeline) incidentChanges() (recs []state.Record, forget []string, err error) {
	upsert, forget := p.inc.tracker.Changes()
	for _, s := range upsert {
		v, err := s.Encode()
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, state.Record{Key: s.Key, Value: v})
	}
	return recs, forget, nil
}

// openIncidents are the incidents still open from before a restart, by the receivers
// they are routed to, for the receivers that keep a live view of them.
func (p *Pipeline) openIncidents(ctx context.Context) map[string][]*incidents.Incident {
	var snap *facts.Snapshot
	out := map[string][]*incidents.Incident{}
	for _, s := range p.inc.tracker.States() {
		if s.Notified.IsZero() || s.Resolved || s.Silent || s.Page != "" {
			continue
		}
		if snap == nil {
			sn := p.inc.enricher.Snapshot(ctx)
			snap = &sn
		}
		inc, err := p.incident(incidents.Event{Kind: incidents.Open, State: s}, snap)
		if err != nil {
			continue
		}
		for _, name := range p.out.router.Route(inc) {
			out[name] = append(out[name], inc)
		}
	}
	return out
}

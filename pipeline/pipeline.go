// Package pipeline connects the stages: sources → matcher → incidents → enrich →
// router → outbox → notifiers. It advances a source's cursor only in the same store
// transaction that queues the notifications its lines caused, so a crash can repeat
// work but never lose it.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/state"
)

// flushLines and flushEvery bound how much reading a crash can make cowbell repeat:
// cursors of lines that caused nothing are committed in batches. A commit is an
// fsync, which a busy disk can hold for hundreds of milliseconds, and a line that
// causes a notification waits for any commit in progress: at 10,000 lines a second,
// a commit every 1,000 lines was ten fsyncs a second for nothing but cursors, and the
// slowest of them set the latency's tail. Reading a second's lines again after a
// crash is harmless (incident keys are stable).
const (
	flushLines = 1 << 16
	flushEvery = time.Second
)

// groupLines bounds how many lines already waiting a batch takes in after its first
// event: a group commit takes a flood's incidents together, but a line that pages
// does not wait for a long backlog to be read first.
const groupLines = 1000

// maxBatchEvents bounds a group commit: its notifications are built in memory.
const maxBatchEvents = 256

// Options are what New needs besides the configuration.
type Options struct {
	Log      *zap.Logger
	Registry prometheus.Registerer // nil: metrics are kept but not exported
	// Now is the clock for quiet periods and probes (event time drives the rest).
	Now func() time.Time
}

// Pipeline is one running cowbell: the stages New built, and the loop that owns the
// tracker.
type Pipeline struct {
	cfg      *config.Config
	log      *zap.Logger
	now      func() time.Time
	store    *state.Store
	ownStore bool // New opened it: Close closes it
	rules    ruleSet
	id       incidents.Identity
	status   *sources.Status
	health   health

	sources    []sources.Source
	srcMetrics *sources.Metrics
	matcher    *matcher.Matcher // as built; the loop tunes it to the logs (tuner)
	tracker    *incidents.Tracker
	tune       *tuner
	onTuned    func() // tests: called once the tuned matcher is the tracker's
	flushEvery time.Duration
	join       incidents.PIDJoin // recent lines by pid, to join incidents about one process
	enricher   *enrich.Enricher
	router     *notifiers.Router
	dispatcher *notifiers.Dispatcher
	metrics    *metrics

	// unsaved is what the store refused to commit (a full disk), cursors and incident
	// changes, merged into the next commit; its notifications went to the
	// dispatcher's memory lanes meanwhile.
	unsaved state.Batch
}

// Rules returns the loaded rules.
func (p *Pipeline) Rules() []*rules.Rule { return p.rules.all }

// Close closes the store if New opened it; call it after Run returns.
func (p *Pipeline) Close() error {
	if !p.ownStore {
		return nil
	}
	return p.store.Close()
}

// Run runs until ctx is done, then shuts down in order: sources stop, the loop drains
// what they read and commits its last cursors, the dispatcher finishes its in-flight
// attempts, and Run returns (Close then closes the store).
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.restore(ctx); err != nil {
		return err
	}
	lines := make(chan sources.Line, 1024)
	snaps := make(chan facts.Snapshot, 1)
	g, gctx := errgroup.WithContext(ctx)
	p.runSources(g, gctx, lines)
	if len(p.rules.probes) > 0 || len(p.rules.resolved) > 0 {
		g.Go(func() error { return p.probeLoop(gctx, snaps) })
	}

	// Delivery outlives the loop: it stops only after the last batch is committed.
	dctx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	p.dispatcher.Prime(p.openIncidents(ctx))
	var delivery sync.WaitGroup
	var deliveryErr error
	delivery.Add(1)
	go func() {
		defer delivery.Done()
		deliveryErr = p.dispatcher.Run(dctx)
	}()

	g.Go(func() error {
		err := p.loop(gctx, lines, snaps)
		stopDelivery()
		return err
	})
	err := g.Wait()
	stopDelivery()
	delivery.Wait()
	if !p.unsaved.Empty() {
		p.log.Error("stopping while the state store refuses writes: the lines since the last commit are read again at the next start, and their incidents notified again")
	}
	return errors.Join(err, deliveryErr)
}

// runSources starts every source under Supervise, and closes lines once they have all
// stopped and ctx is done (with no sources, probes still run until shutdown).
func (p *Pipeline) runSources(g *errgroup.Group, ctx context.Context, lines chan<- sources.Line) {
	var wg sync.WaitGroup
	for _, s := range p.sources {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			return sources.Supervise(ctx, s, lines, p.srcMetrics, p.status, p.log.With(zap.String("source", s.Name())))
		})
	}
	g.Go(func() error {
		wg.Wait()
		<-ctx.Done()
		close(lines)
		return nil
	})
}

// loop is the single owner of the tracker: lines, probe snapshots and ticks meet here.
func (p *Pipeline) loop(ctx context.Context, lines <-chan sources.Line, snaps <-chan facts.Snapshot) error {
	tick := time.NewTicker(p.flushEvery)
	defer tick.Stop()
	p.tune = newTuner(p.matcher, p.now())
	defer p.tune.wait()
	b := batch{cursors: map[string]sources.Cursor{}}
	for {
		p.health.progress(p.now())
		var snap *facts.Snapshot
		closed := false
		select {
		case l, ok := <-lines:
			if !ok {
				// Drained: commit the last cursors even though ctx is done.
				return p.commit(context.WithoutCancel(ctx), &b, nil)
			}
			p.observe(l, &b)
			// Group commit: take the lines already waiting into the same transaction,
			// so a flood of incidents costs one fsync a batch, not one a line.
			closed = p.drain(lines, &b)
			if !closed && !b.due() {
				continue
			}
		case s := <-snaps:
			snap = &s
			b.events = append(b.events, p.evalProbes(s)...)
			b.events = append(b.events, p.evalResolve(s)...)
		case <-tick.C:
			p.tune.tick(p.now())
			b.events = append(b.events, p.tracker.Tick()...)
		case m := <-p.tune.out:
			p.swap(m, p.tune.lines)
			continue
		}
		// A commit is never cut off: a shutdown that cancels ctx while a tick's or a
		// probe's batch is being written would otherwise fail the run (and the batch
		// would be decided twice). The store's own writes are bounded.
		if err := p.commit(context.WithoutCancel(ctx), &b, snap); err != nil || closed {
			return err
		}
	}
}

// batch is what the loop gathered since its last commit.
type batch struct {
	events  []incidents.Event
	cursors map[string]sources.Cursor // by stream: the last line's
	lines   int
	evLine  int // lines when the first event came
}

// due reports whether the batch must be committed now rather than wait for more lines:
// it holds events, or as many lines as a crash may make cowbell read again.
func (b *batch) due() bool { return len(b.events) > 0 || b.lines >= flushLines }

func (b *batch) reset() {
	b.events = b.events[:0]
	clear(b.cursors)
	b.lines, b.evLine = 0, 0
}

// full reports whether the batch takes no more waiting lines before its commit.
func (b *batch) full() bool {
	return len(b.events) >= maxBatchEvents || b.lines >= flushLines ||
		len(b.events) > 0 && b.lines-b.evLine >= groupLines
}

// drain observes the lines already waiting in the channel, without blocking, up to
// the batch bounds; it reports whether the channel closed meanwhile.
func (p *Pipeline) drain(lines <-chan sources.Line, b *batch) (closed bool) {
	for !b.full() {
		select {
		case l, ok := <-lines:
			if !ok {
				return true
			}
			p.observe(l, b)
		default:
			return false
		}
	}
	return false
}

// observe runs one line through the tracker and records its cursor.
func (p *Pipeline) observe(l sources.Line, b *batch) {
	p.tune.note(l.Text)
	evs := p.tracker.Observe(l)
	if l.Cursor.Stream != "" {
		b.cursors[l.Cursor.Stream] = l.Cursor
	}
	b.lines++
	if len(b.events) == 0 && len(evs) > 0 {
		b.evLine = b.lines
	}
	for _, ev := range evs {
		p.log.Debug("rule fired", zap.String("rule", ev.State.Rule), zap.String("incident", ev.State.Key),
			zap.Stringer("event", ev.Kind), zap.String("stream", l.Stream), zap.String("text", l.Text))
	}
	b.events = append(b.events, evs...)
}

// commit writes what the batch implies in one store transaction: the notifications
// of its events, the incidents they changed and the cursors past their lines. snap is
// the probes' snapshot, or nil to take one when a notification needs it. The batch is
// reset once it is on disk.
func (p *Pipeline) commit(ctx context.Context, b *batch, snap *facts.Snapshot) error {
	p.join.Note(b.events)
	sb := state.Batch{Cursors: sortedCursors(b.cursors)}
	var err error
	if sb.Deliveries, err = p.notifications(ctx, b.events, snap); err != nil {
		return err
	}
	if sb.Incidents, sb.Forget, err = p.incidentChanges(); err != nil {
		return err
	}
	return p.save(ctx, sb, b)
}

// save commits sb, with whatever an earlier commit could not write. While the store
// refuses writes (a full disk, a read-only remount) cowbell goes on: the batch's
// notifications are delivered from memory, its cursors and incident changes wait in
// memory for the next commit, and the cursors on disk stay where they were, so a crash
// meanwhile reads those lines again rather than lose them. Once a commit succeeds, what
// memory had not delivered yet is committed with it. The error is said loudly (log,
// metric, /readyz), not returned: cowbell must keep watching.
func (p *Pipeline) save(ctx context.Context, sb state.Batch, b *batch) error {
	degraded := !p.unsaved.Empty() || p.health.storeError() != ""
	var unsent notifiers.Unsent
	fresh := sb.Deliveries
	if degraded {
		unsent = p.dispatcher.Unsent()
		sb = p.unsaved.Merge(state.Batch{Deliveries: unsent.Deliveries}).Merge(sb)
	}
	start := time.Now()
	err := p.store.Commit(ctx, sb)
	if !sb.Empty() {
		p.metrics.commits.Observe(time.Since(start).Seconds())
	}
	b.reset()
	if err == nil {
		if degraded {
			unsent.Stored()
		}
		p.unsaved = state.Batch{}
		if degraded {
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
	p.dispatcher.Offer(fresh) // the unsent ones are in the lanes already
	sb.Deliveries = nil
	p.unsaved = sb
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
		for _, pev := range p.tracker.Page(ev, p.join.Lookup(ev.State)) {
			if snap == nil {
				s := p.enricher.Snapshot(ctx)
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
	inc.SetRelated(incidents.Causes(p.join.Lookup(ev.State), p.rules.rule))
	body, err := json.Marshal(inc)
	if err != nil {
		return nil, fmt.Errorf("encode incident %s: %w", inc.Key, err)
	}
	var out []state.Delivery
	for _, name := range p.router.Route(inc) {
		out = append(out, state.Delivery{Notifier: name, Key: inc.Key, Status: string(inc.Status), Incident: body})
	}
	p.log.Info("incident "+ev.Kind.String(), zap.String("rule", inc.Rule.ID), zap.String("incident", inc.Key),
		zap.Int("count", inc.Count), zap.Int("folded", inc.Folded))
	return out, nil
}

// incidentChanges encodes what the tracker changed since the last commit.
func (p *Pipeline) incidentChanges() (recs []state.Record, forget []string, err error) {
	upsert, forget := p.tracker.Changes()
	for _, s := range upsert {
		v, err := s.Encode()
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, state.Record{Key: s.Key, Value: v})
	}
	return recs, forget, nil
}

// probeLoop takes a fresh snapshot every interval for the probe rules.
func (p *Pipeline) probeLoop(ctx context.Context, out chan<- facts.Snapshot) error {
	interval := p.cfg.Snapshot.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s := p.enricher.Fresh(ctx)
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
		events = append(events, p.tracker.Probe(r, firing, kd)...)
	}
	return events
}

// evalResolve resolves the open incidents of rules with a resolve condition that
// holds on s (the setting a warning is about was fixed).
func (p *Pipeline) evalResolve(s facts.Snapshot) []incidents.Event {
	var events []incidents.Event
	for _, r := range p.rules.resolved {
		events = append(events, p.tracker.ResolveIf(r, func(st incidents.State) bool {
			ok, err := r.ResolveWhen.Eval(facts.Env{Snapshot: s, Captures: st.Captures, Labels: st.Labels})
			if err != nil {
				p.log.Warn("resolve condition failed", zap.String("rule", r.ID), zap.Error(err))
			}
			return ok
		})...)
	}
	return events
}

// openIncidents are the incidents still open from before a restart, by the receivers
// they are routed to, for the receivers that keep a live view of them.
func (p *Pipeline) openIncidents(ctx context.Context) map[string][]*incidents.Incident {
	var snap *facts.Snapshot
	out := map[string][]*incidents.Incident{}
	for _, s := range p.tracker.States() {
		if s.Notified.IsZero() || s.Resolved || s.Silent || s.Page != "" {
			continue
		}
		if snap == nil {
			sn := p.enricher.Snapshot(ctx)
			snap = &sn
		}
		inc, err := p.incident(incidents.Event{Kind: incidents.Open, State: s}, snap)
		if err != nil {
			continue
		}
		for _, name := range p.router.Route(inc) {
			out[name] = append(out[name], inc)
		}
	}
	return out
}

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
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/state"
)

// flushLines and flushEvery bound how much reading a crash can make cowbell repeat:
// cursors of lines that caused nothing are committed in batches.
const (
	flushLines = 1000
	flushEvery = time.Second
)

// Options are what New needs besides the configuration.
type Options struct {
	Log      *zap.Logger
	Registry prometheus.Registerer // nil: metrics are kept but not exported
	// Now is the clock for quiet periods and probes (event time drives the rest).
	Now func() time.Time
}

// Pipeline is one running cowbell.
type Pipeline struct {
	cfg        *config.Config
	log        *zap.Logger
	now        func() time.Time
	store      *state.Store
	rules      []*rules.Rule
	byID       map[string]*rules.Rule
	probes     []*rules.Rule
	tracker    *matcher.Tracker
	enricher   *enrich.Enricher
	router     *notifiers.Router
	receivers  map[string]notifiers.Notifier
	dispatcher *notifiers.Dispatcher
	sources    []sources.Source
	srcMetrics *sources.Metrics
	host, node string

	persisted map[string]bool // incident keys in the store
	related   related         // recent lines by pid, to join incidents about one process
	events    *prometheus.CounterVec
}

// Runner is a receiver with work of its own between notifications (Alertmanager
// re-sends its active alerts); the pipeline runs it beside the dispatcher.
type Runner interface {
	Run(ctx context.Context) error
}

// New loads rules, opens the store and builds every stage; nothing runs yet.
func New(ctx context.Context, cfg *config.Config, o Options) (*Pipeline, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	rs, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(cfg.StateDir, o.Log)
	if err != nil {
		return nil, err
	}
	p, err := build(ctx, cfg, o, rs, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return p, nil
}

func build(ctx context.Context, cfg *config.Config, o Options, rs []*rules.Rule, st *state.Store) (*Pipeline, error) {
	p := &Pipeline{
		cfg: cfg, log: o.Log, now: o.Now, store: st, rules: rs,
		byID:      map[string]*rules.Rule{},
		receivers: map[string]notifiers.Notifier{},
		persisted: map[string]bool{},
		enricher:  enrich.New(cfg.Snapshot, o.Log.Named("enrich")),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_total",
			Help: "Incident decisions by rule and kind (open, repeat, fold, resolve).",
		}, []string{"rule", "event"}),
	}
	if o.Registry != nil {
		if err := o.Registry.Register(p.events); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for _, r := range rs {
		p.byID[r.ID] = r
		if r.IsProbe() {
			p.probes = append(p.probes, r)
		}
	}
	snap := p.enricher.Snapshot(ctx)
	p.host = Host(cfg, snap)
	p.node = snap.MachineID + "/" + snap.BootID
	m, err := matcher.New(rs)
	if err != nil {
		return nil, err
	}
	p.tracker = matcher.NewTracker(m, matcher.Identity{Host: p.host, Node: p.node}, o.Now)
	open, err := st.Incidents(ctx)
	if err != nil {
		return nil, err
	}
	p.tracker.Restore(open)
	for _, s := range open {
		p.persisted[s.Key] = true
	}
	var names []string
	for _, nc := range cfg.Notifiers {
		n, err := NewNotifier(nc, st, o.Log)
		if err != nil {
			return nil, err
		}
		p.receivers[nc.Name] = n
		names = append(names, nc.Name)
	}
	defaults := cfg.Default
	if len(defaults) == 0 {
		defaults = names
	}
	p.router = notifiers.NewRouter(cfg.Routes, defaults)
	p.dispatcher = notifiers.NewDispatcher(st, p.receivers, cfg.Outbox, o.Log.Named("outbox"), o.Registry)
	p.srcMetrics = sources.NewMetrics(o.Registry)
	for _, sc := range cfg.Sources {
		s, err := NewSource(sc, st, p.srcMetrics, o.Log)
		if err != nil {
			return nil, err
		}
		p.sources = append(p.sources, s)
	}
	return p, nil
}

// Host is the name incidents carry: the configured one, else the snapshot's.
func Host(cfg *config.Config, snap facts.Snapshot) string {
	if cfg.Host != "" {
		return cfg.Host
	}
	if snap.Host != "" {
		return snap.Host
	}
	h, _ := os.Hostname()
	return h
}

// LoadRules loads the configured rules: the built-in pack (unless off) and paths,
// giving log rules without a cooldown the configured default.
func LoadRules(cfg *config.Config) ([]*rules.Rule, error) {
	rs, err := rules.Load(rules.LoadOptions{Builtin: cfg.Rules.Builtin, Paths: cfg.Rules.Paths})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if !r.IsProbe() && r.Cooldown == 0 {
			r.Cooldown = rules.Duration(cfg.Rules.DefaultCooldown)
		}
	}
	return rs, nil
}

// Rules returns the loaded rules.
func (p *Pipeline) Rules() []*rules.Rule { return p.rules }

// Close closes the store; call it after Run returns.
func (p *Pipeline) Close() error { return p.store.Close() }

// Run runs until ctx is done, then shuts down in order: sources stop, the matcher
// drains what they read and commits its last cursors, the dispatcher finishes its
// in-flight attempts, and Run returns (Close then closes the store).
func (p *Pipeline) Run(ctx context.Context) error {
	lines := make(chan sources.Line, 1024)
	snaps := make(chan facts.Snapshot, 1)
	g, gctx := errgroup.WithContext(ctx)

	var srcWG sync.WaitGroup
	for _, s := range p.sources {
		srcWG.Add(1)
		g.Go(func() error {
			defer srcWG.Done()
			return sources.Supervise(gctx, s, lines, p.srcMetrics, p.log.With(zap.String("source", s.Name())))
		})
	}
	g.Go(func() error {
		srcWG.Wait()
		<-gctx.Done() // with no sources, probes still run until shutdown
		close(lines)
		return nil
	})
	if len(p.probes) > 0 {
		g.Go(func() error { return p.probeLoop(gctx, snaps) })
	}

	// Delivery outlives the matcher: it stops only after the last batch is committed.
	dctx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	var delivery sync.WaitGroup
	deliveryErr := make(chan error, 1+len(p.receivers))
	start := func(run func(context.Context) error) {
		delivery.Add(1)
		go func() {
			defer delivery.Done()
			if err := run(dctx); err != nil && !errors.Is(err, context.Canceled) {
				deliveryErr <- err
			}
		}()
	}
	start(p.dispatcher.Run)
	for _, n := range p.receivers {
		if r, ok := n.(Runner); ok {
			start(r.Run)
		}
	}
	p.prime(ctx)

	g.Go(func() error {
		err := p.loop(gctx, lines, snaps)
		stopDelivery()
		return err
	})
	err := g.Wait()
	stopDelivery()
	delivery.Wait()
	close(deliveryErr)
	for e := range deliveryErr {
		err = errors.Join(err, e)
	}
	return err
}

// loop is the single owner of the tracker: lines, probe snapshots and ticks meet here.
func (p *Pipeline) loop(ctx context.Context, lines <-chan sources.Line, snaps <-chan facts.Snapshot) error {
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	cursors := map[string]sources.Cursor{}
	unflushed := 0
	for {
		var events []matcher.Event
		var snap *facts.Snapshot
		closed := false
		select {
		case l, ok := <-lines:
			if !ok {
				// Drained: commit the last cursors even though ctx is done.
				return p.commit(context.WithoutCancel(ctx), nil, nil, cursors)
			}
			events = p.observe(l, cursors, nil)
			unflushed++
			// Group commit: take the lines already waiting into the same transaction,
			// so a flood of incidents costs one fsync a batch, not one a line.
			events, closed = p.drain(lines, cursors, events, &unflushed)
			if !closed && len(events) == 0 && unflushed < flushLines {
				continue
			}
		case s := <-snaps:
			snap = &s
			events = p.evalProbes(s)
		case <-tick.C:
			events = p.tracker.Tick()
			if len(events) == 0 && len(cursors) == 0 {
				continue
			}
		}
		if closed {
			return p.commit(context.WithoutCancel(ctx), events, snap, cursors)
		}
		if err := p.commit(ctx, events, snap, cursors); err != nil {
			return err
		}
		clear(cursors)
		unflushed = 0
	}
}

// maxBatchEvents bounds a group commit: its notifications are built in memory.
const maxBatchEvents = 256

// drain observes the lines already waiting in the channel, without blocking, up to
// the batch bounds; closed reports that the channel closed meanwhile.
func (p *Pipeline) drain(lines <-chan sources.Line, cursors map[string]sources.Cursor, events []matcher.Event, unflushed *int) (_ []matcher.Event, closed bool) {
	for len(events) < maxBatchEvents && *unflushed < flushLines {
		select {
		case l, ok := <-lines:
			if !ok {
				return events, true
			}
			events = p.observe(l, cursors, events)
			*unflushed++
		default:
			return events, false
		}
	}
	return events, false
}

// observe runs one line through the tracker and records its cursor.
func (p *Pipeline) observe(l sources.Line, cursors map[string]sources.Cursor, events []matcher.Event) []matcher.Event {
	evs := p.tracker.Observe(l)
	if l.Cursor.Stream != "" {
		cursors[l.Cursor.Stream] = l.Cursor
	}
	for _, ev := range evs {
		p.log.Debug("rule fired", zap.String("rule", ev.State.Rule), zap.String("incident", ev.State.Key),
			zap.Stringer("event", ev.Kind), zap.String("stream", l.Stream), zap.String("text", l.Text))
	}
	return append(events, evs...)
}

// commit queues the notifications of events, the tracker's state and the cursors in
// one store transaction. snap is the probe snapshot, or nil to take one now.
func (p *Pipeline) commit(ctx context.Context, events []matcher.Event, snap *facts.Snapshot, cursors map[string]sources.Cursor) error {
	b := state.Batch{}
	for _, c := range cursors {
		b.Cursors = append(b.Cursors, c)
	}
	sort.Slice(b.Cursors, func(i, j int) bool { return b.Cursors[i].Stream < b.Cursors[j].Stream })
	p.related.note(events)
	for _, ev := range events {
		p.events.WithLabelValues(ev.State.Rule, ev.Kind.String()).Inc()
		if !ev.Kind.Notify() {
			continue
		}
		r := p.byID[ev.State.Rule]
		if r == nil {
			continue // a rule removed from the config while its incident was open
		}
		if snap == nil {
			s := p.enricher.Snapshot(ctx)
			snap = &s
		}
		target := p.enricher.Target(*snap, r.ID, ev.State.Captures, ev.State.Labels)
		inc := BuildIncident(r, ev, p.host, snap, &target)
		inc.Related = p.related.lookup(ev.State)
		body, err := json.Marshal(inc)
		if err != nil {
			return fmt.Errorf("encode incident %s: %w", inc.Key, err)
		}
		for _, name := range p.router.Route(inc) {
			b.Deliveries = append(b.Deliveries, state.Delivery{Notifier: name, Key: inc.Key, Incident: body})
		}
		p.log.Info("incident "+ev.Kind.String(), zap.String("rule", r.ID), zap.String("incident", inc.Key),
			zap.Int("count", inc.Count), zap.Int("folded", inc.Folded))
	}
	if p.tracker.PendingChanged() || len(events) > 0 {
		current := map[string]bool{}
		for _, s := range p.tracker.States() {
			current[s.Key] = true
			b.Incidents = append(b.Incidents, s)
		}
		for k := range p.persisted {
			if !current[k] {
				b.Forget = append(b.Forget, k)
			}
		}
		p.persisted = current
	}
	if len(b.Cursors) == 0 && len(b.Incidents) == 0 && len(b.Forget) == 0 && len(b.Deliveries) == 0 {
		return nil
	}
	if err := p.store.Commit(ctx, b); err != nil {
		p.log.Error("cannot commit incidents and cursors", zap.Int("notifications", len(b.Deliveries)), zap.Error(err))
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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
func (p *Pipeline) evalProbes(s facts.Snapshot) []matcher.Event {
	env := facts.Env{Snapshot: s}
	var events []matcher.Event
	for _, r := range p.probes {
		firing, err := r.Probe.Condition.Eval(env)
		if err != nil {
			p.log.Warn("probe condition failed", zap.String("rule", r.ID), zap.Error(err))
			continue
		}
		kd := rules.KeyData{Rule: r.ID, Host: p.host, Node: p.node}
		events = append(events, p.tracker.Probe(r, firing, kd)...)
	}
	return events
}

// prime hands receivers that keep a live view (Alertmanager) the incidents still open
// from before a restart.
func (p *Pipeline) prime(ctx context.Context) {
	var primers []notifiers.Primer
	names := map[notifiers.Primer]string{}
	for name, n := range p.receivers {
		if pr, ok := n.(notifiers.Primer); ok {
			primers = append(primers, pr)
			names[pr] = name
		}
	}
	if len(primers) == 0 {
		return
	}
	snap := p.enricher.Snapshot(ctx)
	byNotifier := map[notifiers.Primer][]*notifiers.Incident{}
	for _, s := range p.tracker.States() {
		r := p.byID[s.Rule]
		if r == nil || s.Notified.IsZero() || s.Resolved {
			continue
		}
		inc := BuildIncident(r, matcher.Event{Kind: matcher.Open, State: s}, p.host, &snap, nil)
		for _, name := range p.router.Route(inc) {
			for _, pr := range primers {
				if names[pr] == name {
					byNotifier[pr] = append(byNotifier[pr], inc)
				}
			}
		}
	}
	for pr, incs := range byNotifier {
		pr.Prime(incs)
	}
}

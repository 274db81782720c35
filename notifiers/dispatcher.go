package notifiers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/state"
)

// errTimeout is the cause of an attempt's context when its own deadline passed.
var errTimeout = errors.New("delivery attempt timed out")

// errShutdown is the cause when shutdown's grace period for an attempt ran out.
var errShutdown = errors.New("shutting down")

// The store's per-receiver maps are what receivers keep their state in.
var _ KV = (*state.KV)(nil)

// shutdownGrace is how long an attempt in flight at shutdown may still take.
const shutdownGrace = 5 * time.Second

// Dispatcher delivers the outbox: one worker per notifier takes its queue in order
// (so one incident key's notifications arrive in order), retries what may succeed
// later with exponential backoff, dead-letters what will not, and enforces the
// outbox bound. Entries leave the store only after success, so a restart resumes.
type Dispatcher struct {
	st  *state.Store
	ns  map[string]Notifier
	cfg DispatcherConfig
	log *zap.Logger
	m   *outboxMetrics

	mu     sync.Mutex
	status map[string]NotifierState
	mem    map[string]*memLane // what the store could not take, by notifier

	// Injected for tests: the clock, the sleeper, the jitter source and the grace.
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time
	jitter func() float64
	grace  time.Duration
}

// NewDispatcher makes a Dispatcher for the notifiers ns (by configured name) over the
// store's outbox. Zero fields of c take their defaults; metrics are registered on reg
// (nil: not registered).
func NewDispatcher(st *state.Store, ns map[string]Notifier, c DispatcherConfig, log *zap.Logger, reg prometheus.Registerer) *Dispatcher {
	d := &Dispatcher{
		st: st, ns: ns, cfg: c.withDefaults(), log: log, m: newOutboxMetrics(reg), status: map[string]NotifierState{},
		now: time.Now, after: time.After, jitter: rand.Float64, grace: shutdownGrace,
	}
	d.mem = map[string]*memLane{}
	for name := range ns {
		d.m.init(name)
		d.mem[name] = newMemLane()
	}
	return d
}

// NotifierState is how delivery to one receiver goes.
type NotifierState struct {
	// Failing is the error of the current run of failed attempts ("" when the last
	// attempt succeeded); Dead says the last attempt was dead-lettered: the endpoint
	// refuses what it is sent, and retrying will not help.
	Failing string
	Dead    bool
}

// Status returns each receiver's delivery state, by name; a receiver that has not
// been tried yet is healthy.
func (d *Dispatcher) Status() map[string]NotifierState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]NotifierState, len(d.ns))
	for name := range d.ns {
		out[name] = d.status[name]
	}
	return out
}

func (d *Dispatcher) setStatus(name string, s NotifierState) {
	d.mu.Lock()
	d.status[name] = s
	d.mu.Unlock()
}

// Prime hands each receiver that is a Primer the open incidents routed to it (by
// configured name), before Run: incidents still open from before a restart.
func (d *Dispatcher) Prime(open map[string][]*incidents.Incident) {
	for name, incs := range open {
		if p, ok := d.ns[name].(Primer); ok && len(incs) > 0 {
			p.Prime(incs)
		}
	}
}

// Run delivers until ctx is done, then lets each attempt in flight finish under a
// short deadline and returns nil; receivers that are Runners run beside their queues
// until then. It returns an error only when the store or a Runner fails.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.warnUnconfigured()
	g, ctx := errgroup.WithContext(ctx)
	for _, name := range d.names() {
		n := d.ns[name]
		w := &worker{d: d, name: name, n: n, log: d.log.With(zap.String("notifier", name)), limit: d.cfg.Concurrency}
		if c, ok := n.(Concurrency); ok {
			w.limit = max(1, min(w.limit, c.MaxConcurrency()))
		}
		g.Go(func() error { return w.run(ctx) })
		mw := &worker{d: d, name: name, n: n, log: w.log.With(zap.String("lane", "memory")), limit: 1}
		g.Go(func() error { return mw.runMemory(ctx, d.mem[name]) })
		if r, ok := n.(Runner); ok {
			g.Go(func() error {
				if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("notifier %s: %w", name, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// names lists the configured notifiers, sorted.
func (d *Dispatcher) names() []string {
	names := make([]string, 0, len(d.ns))
	for name := range d.ns {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// warnUnconfigured says when the outbox holds entries for a notifier no longer
// configured: they stay, undelivered, until it comes back or they are purged.
func (d *Dispatcher) warnUnconfigured() {
	names, err := d.st.Notifiers()
	if err != nil {
		d.log.Warn("cannot list outbox notifiers", zap.Error(err))
		return
	}
	for _, name := range names {
		if _, ok := d.ns[name]; ok {
			continue
		}
		if n := d.st.Len(name); n > 0 {
			d.log.Warn("outbox holds entries for a notifier that is not configured",
				zap.String("notifier", name), zap.Int("pending", n))
		}
	}
}

// worker delivers one notifier's queue.
type worker struct {
	d     *Dispatcher
	name  string
	n     Notifier
	log   *zap.Logger
	limit int // attempts in flight at once while the endpoint is healthy

	failing  string // the error of the current run of failures, "" when healthy (as logged)
	down     bool   // the last attempt to end failed and may succeed later: probe one at a time
	storeErr string // the store's error while it refuses writes, "" when it takes them

	// Drops at the bound are counted on every drop but logged at most once per
	// dropLogEvery, with how many since the last line: a flood must not become one.
	dropsUnlogged int
	dropLogged    time.Time
}

// dropLogEvery bounds how often drops at the outbox bound are logged.
const dropLogEvery = 10 * time.Second

// scanFactor bounds how far past the head a pick looks for entries it may send:
// entries behind a postponed or busy one of their own key, or waiting out their own
// backoff, are skipped, but not beyond free×scanFactor entries besides the busy ones.
const scanFactor = 4

// run delivers the queue until ctx is done, then lets the attempts in flight end and
// records their outcomes. Up to limit attempts are in flight at once (see pipe): a
// free slot takes the next entry as soon as an attempt ends.
func (w *worker) run(ctx context.Context) error {
	p := newPipe(w.limit)
	for {
		stopping := ctx.Err() != nil
		w.settleNext(p, stopping)
		if stopping && p.idle() {
			return nil
		}
		var wake <-chan struct{}
		var later <-chan time.Time
		if !stopping && w.storeErr == "" {
			wake = w.d.st.Updated() // before reading, so no Commit is missed
			if err := w.trim(); err != nil {
				return err
			}
			round, wait, err := w.pick(p.busy, p.keys, w.limit-p.inFlight)
			if err != nil {
				return err
			}
			for _, e := range round {
				w.start(ctx, p, e)
			}
			// Virtual clocks in tests advance when asked to wait, so a wait is asked
			// for only when nothing else can wake the worker.
			if wait > 0 && len(round) == 0 && p.idle() {
				later = w.d.after(wait)
			}
		}
		done := ctx.Done()
		if stopping {
			done = nil
		}
		// New entries wake us too, so the bound holds while we back off.
		select {
		case x := <-p.ended:
			w.end(p, x)
		case s := <-p.settled:
			w.finish(ctx, p, s)
		case <-p.retryAt:
			p.retryAt = nil
		case <-later:
		case <-wake:
		case <-done:
		}
	}
}

// trim enforces the outbox bound, loudly. A store that refuses the write leaves the
// bound to the next round.
func (w *worker) trim() error {
	cfg := w.d.cfg
	dropped, err := w.d.st.Trim(w.name, cfg.MaxEntries, cfg.MaxAge, w.d.now())
	if err != nil {
		w.log.Warn("cannot enforce the outbox bound", zap.Error(err))
		return nil
	}
	for _, dr := range dropped {
		w.d.m.dropped.WithLabelValues(w.name, dr.Reason).Inc()
	}
	w.dropsUnlogged += len(dropped)
	if w.dropsUnlogged > 0 && w.d.now().Sub(w.dropLogged) >= dropLogEvery {
		last := dropped[len(dropped)-1]
		w.log.Error("outbox bound reached, notifications dropped undelivered",
			zap.Int("dropped", w.dropsUnlogged), zap.String("incident", last.Entry.Key), zap.String("reason", last.Reason),
			zap.Time("enqueued", last.Entry.Enqueued), zap.Int("max_entries", cfg.MaxEntries), zap.Duration("max_age", cfg.MaxAge))
		w.dropsUnlogged, w.dropLogged = 0, w.d.now()
	}
	w.setPending()
	return nil
}

// pick chooses up to free entries to send next, oldest first, of each incident key
// only its oldest pending entry, so one incident's notifications arrive in order while
// different incidents go out side by side. Entries in busy (in flight, or their
// outcome not yet on disk) are passed over, and so are the later entries of their keys
// (keys). An entry waiting out its backoff holds back its own key only. While the
// endpoint is failing, the pick is the head alone, once its backoff has passed and
// nothing else is in flight: one probe, not a volley at an endpoint that is down. With
// nothing to send, wait is how long until an entry is due (0: until something is
// queued or an attempt ends).
func (w *worker) pick(busy map[uint64]bool, keys map[string]int, free int) (round []state.Entry, wait time.Duration, err error) {
	scan := free * scanFactor
	if w.down {
		if len(busy) > 0 {
			return nil, 0, nil
		}
		free, scan = 1, 1
	}
	if free <= 0 {
		return nil, 0, nil
	}
	window, err := w.d.st.WindowSkip(w.name, scan, func(seq uint64) bool { return busy[seq] })
	if err != nil {
		return nil, 0, fmt.Errorf("dispatch to %s: %w", w.name, err)
	}
	now := w.d.now()
	seen := make(map[string]bool, len(window))
	for _, e := range window {
		if seen[e.Key] || keys[e.Key] > 0 {
			seen[e.Key] = true
			continue // an older entry of this key goes first
		}
		seen[e.Key] = true
		if d := e.NextAttempt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		round = append(round, e)
		if len(round) == free {
			break
		}
	}
	if round, err = w.d.st.Fill(w.name, round); err != nil {
		return nil, 0, fmt.Errorf("dispatch to %s: %w", w.name, err)
	}
	return round, wait, nil
}

func (w *worker) setPending() {
	w.d.m.pending.WithLabelValues(w.name).Set(float64(w.d.st.Len(w.name)))
}

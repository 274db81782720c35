// Package pipeline connects the stages: sources → matcher → incidents → enrich →
// router → outbox → notifiers. It advances a source's cursor only in the same store
// transaction that queues the notifications its lines caused, so a crash can repeat
// work but never lose it.
package pipeline

import (
	"context"
	"errors"
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

// lineBatches is how many batches of lines (a source read's each) wait for the loop.
const lineBatches = 4

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
// tracker. Its parts follow the flow: what reads (in), what decides and describes
// (inc), what records and delivers (out).
type Pipeline struct {
	cfg     *config.Config
	log     *zap.Logger
	now     func() time.Time
	id      incidents.Identity
	rules   ruleSet
	health  health
	metrics *metrics

	in  intake
	inc incidentStage
	out outlet
}

// intake is the sources and what they report of themselves.
type intake struct {
	sources []sources.Source
	status  *sources.Status
	metrics *sources.Metrics
}

// incidentStage turns lines and snapshots into incident events and describes them:
// the loop owns it.
type incidentStage struct {
	matcher  *matcher.Matcher // as built; the loop tunes it to the logs (tuner)
	tune     *tuner
	onTuned  func() // tests: called once the tuned matcher is the tracker's
	tracker  *incidents.Tracker
	join     incidents.PIDJoin // recent lines by pid, to join incidents about one process
	enricher *enrich.Enricher
}

// outlet records what the incident stage decided and delivers it.
type outlet struct {
	store      *state.Store
	ownStore   bool          // New opened it: Close closes it
	flushEvery time.Duration // how long a cursor of lines that caused nothing may wait
	router     *notifiers.Router
	dispatcher *notifiers.Dispatcher
	// unsaved is what the store refused to commit (a full disk), cursors and incident
	// changes, merged into the next commit; its notifications went to the
	// dispatcher's memory lanes meanwhile.
	unsaved state.Batch
}

// Rules returns the loaded rules.
func (p *Pipeline) Rules() []*rules.Rule { return p.rules.all }

// Close closes the store if New opened it; call it after Run returns.
func (p *Pipeline) Close() error {
	if !p.out.ownStore {
		return nil
	}
	return p.out.store.Close()
}

// Run runs until ctx is done, then shuts down in order: sources stop, the loop drains
// what they read and commits its last cursors, the dispatcher finishes its in-flight
// attempts, and Run returns (Close then closes the store).
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.restore(ctx); err != nil {
		return err
	}
	lines := make(chan *sources.Batch, lineBatches)
	snaps := make(chan facts.Snapshot, 1)
	g, gctx := errgroup.WithContext(ctx)
	p.runSources(g, gctx, lines)
	if len(p.rules.probes) > 0 || len(p.rules.resolved) > 0 {
		g.Go(func() error { return p.probeLoop(gctx, snaps) })
	}

	// Delivery outlives the loop: it stops only after the last batch is committed.
	dctx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	p.out.dispatcher.Prime(p.openIncidents(ctx))
	var delivery sync.WaitGroup
	var deliveryErr error
	delivery.Add(1)
	go func() {
		defer delivery.Done()
		deliveryErr = p.out.dispatcher.Run(dctx)
	}()

	g.Go(func() error {
		err := p.loop(gctx, lines, snaps)
		stopDelivery()
		return err
	})
	err := g.Wait()
	stopDelivery()
	delivery.Wait()
	if !p.out.unsaved.Empty() {
		p.log.Error("stopping while the state store refuses writes: the lines since the last commit are read again at the next start, and their incidents notified again")
	}
	return errors.Join(err, deliveryErr)
}

// runSources starts every source under Supervise, and closes lines once they have all
// stopped and ctx is done (with no sources, probes still run until shutdown).
func (p *Pipeline) runSources(g *errgroup.Group, ctx context.Context, lines chan<- *sources.Batch) {
	var wg sync.WaitGroup
	for _, s := range p.in.sources {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			return sources.Supervise(ctx, s, lines, p.in.metrics, p.in.status, p.log.With(zap.String("source", s.Name())))
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
//
// A batch's transaction is written on a goroutine of its own while the loop goes on
// reading into the next batch (a commit is an fsync: the disk's time, not the CPU's),
// one transaction at a time and in order, so a batch's cursors are never on disk
// before those of the batches before it, nor before the incidents and notifications
// of their lines. The next batch waits for the one being written once it is full, or
// when what it holds is not lines' (a tick's, a probe's).
func (p *Pipeline) loop(ctx context.Context, lines <-chan *sources.Batch, snaps <-chan facts.Snapshot) error {
	tick := time.NewTicker(p.out.flushEvery)
	defer tick.Stop()
	p.inc.tune = newTuner(p.inc.matcher, p.now())
	defer p.inc.tune.wait()
	b := batch{cursors: map[string]sources.Cursor{}}
	// A commit is never cut off: a shutdown that cancels ctx while a batch is being
	// written would otherwise fail the run (and the batch would be decided twice).
	// The store's own writes are bounded.
	cctx := context.WithoutCancel(ctx)
	var busy *pending // the transaction being written, nil when none
	defer func() {
		if busy != nil {
			<-busy.done // the store outlives the loop only until Run returns
		}
	}()
	settle := func() error { // waits for the transaction being written and takes its answer
		if busy == nil {
			return nil
		}
		<-busy.done
		w := busy
		busy = nil
		return p.finish(cctx, w)
	}
	var written <-chan struct{} // busy's done, nil when none
	for {
		p.health.progress(p.now())
		var snap *facts.Snapshot
		force := false // commit now, waiting for the transaction being written
		select {
		case lb, ok := <-lines:
			if !ok {
				// Drained: commit the last cursors even though ctx is done.
				if err := settle(); err != nil {
					return err
				}
				return p.commit(cctx, &b, nil)
			}
			p.observeAll(lb, &b)
			// Group commit: take the lines already waiting into the same transaction,
			// so a flood of incidents costs one fsync a batch, not one a line.
			if p.drain(lines, &b) {
				if err := settle(); err != nil {
					return err
				}
				return p.commit(cctx, &b, nil)
			}
		case <-written:
		case s := <-snaps:
			snap, force = &s, true
			b.events = append(b.events, p.evalProbes(s)...)
			b.events = append(b.events, p.evalResolve(s)...)
		case <-tick.C:
			force = true
			p.inc.tune.tick(p.now())
			b.events = append(b.events, p.inc.tracker.Tick()...)
		case m := <-p.inc.tune.out:
			p.swap(m, p.inc.tune.lines)
			continue
		}
		if busy != nil {
			select {
			case <-written:
			default:
				if !force && !b.brim() {
					continue // the next transaction takes it, once this one is written
				}
			}
			if err := settle(); err != nil {
				return err
			}
			written = nil
		}
		if !force && !b.due() {
			continue
		}
		w, err := p.prepare(cctx, &b, snap)
		if err != nil {
			return err
		}
		if w.sb.Empty() {
			if err := p.finish(cctx, w); err != nil {
				return err
			}
			continue
		}
		w.done = make(chan struct{})
		busy, written = w, w.done
		go func() {
			defer close(w.done)
			w.write(cctx, p.out.store, p.metrics.commits)
		}()
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

// brim reports whether the batch holds as much as one transaction may: it waits for
// the one being written rather than take more lines.
func (b *batch) brim() bool {
	return len(b.events) >= maxBatchEvents || b.lines >= flushLines
}

// full reports whether the batch takes no more waiting lines before its commit.
func (b *batch) full() bool {
	return len(b.events) >= maxBatchEvents || b.lines >= flushLines ||
		len(b.events) > 0 && b.lines-b.evLine >= groupLines
}

// drain observes the lines already waiting in the channel, without blocking, up to
// the batch bounds; it reports whether the channel closed meanwhile.
func (p *Pipeline) drain(lines <-chan *sources.Batch, b *batch) (closed bool) {
	for !b.full() {
		select {
		case lb, ok := <-lines:
			if !ok {
				return true
			}
			p.observeAll(lb, b)
		default:
			return false
		}
	}
	return false
}

// observeAll observes the lines of a source's batch, in order, and releases it. A
// batch is taken whole: the batch bounds (full) may be passed by one source read.
// Each stream's cursor is recorded once, after its last line in a run of lines of
// that stream (no commit comes between two lines of a batch).
func (p *Pipeline) observeAll(lb *sources.Batch, b *batch) {
	var last *sources.Cursor
	for i := range lb.Lines {
		l := &lb.Lines[i]
		if last != nil && last.Stream != l.Cursor.Stream {
			b.cursors[last.Stream] = *last
		}
		p.observe(l, b)
		if l.Cursor.Stream != "" {
			last = &l.Cursor
		}
	}
	if last != nil {
		b.cursors[last.Stream] = *last
	}
	lb.Release()
}

// observe runs one line through the tracker (observeAll records its cursor).
func (p *Pipeline) observe(l *sources.Line, b *batch) {
	p.inc.tune.note(l.Text)
	evs := p.inc.tracker.Observe(*l)
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

package pipeline

import (
	"context"
	"io"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/logtime"
)

// Input is one log to replay.
type Input struct {
	Name   string // as given: a path, or "-" for stdin
	Reader io.Reader
}

// ReplayHit is one line that matched a rule's match patterns, thresholds and
// cooldowns aside.
type ReplayHit struct {
	Rule     string            `json:"rule"`
	Line     string            `json:"line"`
	Captures map[string]string `json:"captures,omitempty"`
	Stream   string            `json:"stream,omitempty"`
	Time     *time.Time        `json:"time,omitempty"`
}

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Format   file.Format
	Host     string
	Node     string
	Snapshot *facts.Snapshot // advice conditions are evaluated on it; nil: unconditional advice only
	// Hits reports every matching line instead of incidents.
	Hits bool
	// Location is the zone of plain-line stamps that name none (Redis, syslog); nil
	// is the local zone.
	Location *time.Location
}

// Replay runs rules over logs offline, on the logs' own time (a container record's
// timestamp, or the stamp a plain line starts with), the way the live run does:
// incidents (or, with Hits, hits) go to emit in order, each an *incidents.Incident
// or a ReplayHit.
func Replay(ctx context.Context, rs []*rules.Rule, inputs []Input, o ReplayOptions, emit func(any) error) error {
	return ReplayRules(ctx, func() ([]*rules.Rule, error) { return rs, nil }, inputs, o, emit)
}

// ReplayRules is Replay of the rules load returns; it loads them beside the first
// reading. An error of load is returned as it is.
//
// The work is spread over the cores: one goroutine reads, splits, decodes and dates
// the lines, in batches; workers, one a core, match the batches; and the caller's
// goroutine decides and emits their hits in order. The rules are loaded while the
// first batches are read, and the matcher is built fitted to the first lines
// (matcher.NewTuned): they are read long before the rules are loaded, and matching
// with a matcher not yet fitted cost more than waiting for the fitted one.
func ReplayRules(ctx context.Context, load func() ([]*rules.Rule, error), inputs []Input, o ReplayOptions, emit func(any) error) error {
	r := &replayer{o: o, ready: make(chan struct{}), sample: make(chan []string, 1)}
	r.d = dater{loc: o.Location}
	if r.d.loc == nil {
		r.d.loc = time.Local
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.build(gctx, load) })
	full, work := make(chan *replayBatch, replayInFlight), make(chan *replayBatch, replayInFlight)
	free := make(chan *replayBatch, replayInFlight)
	for range replayInFlight {
		free <- &replayBatch{lines: make([]dated, 0, batchLines)}
	}
	g.Go(func() error {
		defer close(full)
		defer close(work)
		return r.read(gctx, inputs, free, full, work)
	})
	for range max(1, runtime.GOMAXPROCS(0)) {
		g.Go(func() error { return r.match(gctx, work) })
	}
	g.Go(func() error { return r.decide(gctx, full, free, emit) })
	return g.Wait()
}

// replayInFlight is how many batches may be read ahead of the decisions: what the
// reader gets on with while the rules load (32,768 lines, about 8 MB).
const replayInFlight = 16

// batchLines is how many lines travel together from the reader to the matcher: one
// channel operation a batch instead of a line.
const batchLines = 256

// dated is a line with the replay's clock as of that line.
type dated struct {
	line  sources.Line
	clock time.Time
}

// replayBatch is a batch of lines and, once done is closed, their hits.
type replayBatch struct {
	lines []dated
	hits  [][]matcher.Hit
	done  chan struct{}
}

// replayer is one replay's shared state.
type replayer struct {
	o     ReplayOptions
	d     dater
	ready chan struct{} // closed once the rules are loaded and m holds their matcher
	// sample gets the first tuneLines lines, or all of a shorter input, once read.
	sample chan []string
	rules  []*rules.Rule
	byID   map[string]*rules.Rule
	m      *matcher.Matcher
}

// build loads the rules and builds their matcher, fitted to the first lines.
func (r *replayer) build(ctx context.Context, load func() ([]*rules.Rule, error)) error {
	rs, err := load()
	if err != nil {
		return err
	}
	var sample []string
	select {
	case sample = <-r.sample:
	case <-ctx.Done():
		return nil // the reader failed: its error is the replay's
	}
	if len(sample) == 0 {
		sample = nil // nothing to fit to
	}
	m, err := matcher.NewTuned(rs, sample)
	if err != nil {
		return err
	}
	r.rules, r.byID = rs, make(map[string]*rules.Rule, len(rs))
	for _, rule := range rs {
		r.byID[rule.ID] = rule
	}
	r.m = m
	close(r.ready)
	return nil
}

// wait waits for the matcher.
func (r *replayer) wait(ctx context.Context) bool {
	select {
	case <-r.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// read reads the inputs in order into batches, each sent to the deciding goroutine
// (full, in order) and to the workers (work). The first tuneLines lines are the
// sample the matcher is fitted to: they fit in the batches in flight, so the reader
// never waits for a matcher that waits for its sample.
func (r *replayer) read(ctx context.Context, inputs []Input, free <-chan *replayBatch, full, work chan<- *replayBatch) error {
	var sample []string
	tuning := true
	var latest time.Time
	var b *replayBatch
	send := func() error {
		b.done = make(chan struct{})
		for _, ch := range []chan<- *replayBatch{full, work} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b = nil
		return nil
	}
	for _, in := range inputs {
		err := file.Scan(ctx, in.Reader, "replay", in.Name, r.o.Format, func(l sources.Line) error {
			if b == nil {
				select {
				case b = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			r.d.date(&l, &latest)
			b.lines = append(b.lines, dated{l, latest})
			if tuning {
				sample = append(sample, l.Text)
				if len(sample) == tuneLines {
					tuning = false
					r.sample <- sample
				}
			}
			if len(b.lines) < batchLines {
				return nil
			}
			return send()
		})
		if err != nil {
			return err
		}
	}
	if tuning {
		r.sample <- sample // all of a short input
	}
	if b != nil {
		return send()
	}
	return nil
}

// match finds the hits of each batch's lines: a line's match hits with Hits, else
// every hit the tracker decides on.
func (r *replayer) match(ctx context.Context, work <-chan *replayBatch) error {
	if !r.wait(ctx) {
		return nil
	}
	m := r.m
	for b := range work {
		b.hits = b.hits[:0]
		for i := range b.lines {
			var hs []matcher.Hit
			if r.o.Hits {
				hs = m.Match(b.lines[i].line, nil)
			} else {
				hs = m.MatchAll(b.lines[i].line, nil)
			}
			b.hits = append(b.hits, hs)
		}
		close(b.done)
	}
	return nil
}

// decide takes the batches in order, once matched, and emits what their hits come to.
func (r *replayer) decide(ctx context.Context, full <-chan *replayBatch, free chan<- *replayBatch, emit func(any) error) error {
	var tr *incidents.Tracker
	var join incidents.PIDJoin
	for b := range full {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if tr == nil && !r.o.Hits {
			tr = incidents.NewTracker(r.m, incidents.Identity{Host: r.o.Host, Node: r.o.Node}, r.d.now)
		}
		for i, x := range b.lines {
			r.d.clock = x.clock // the tracker's clock, for lines without a time, runs on the logs'
			var err error
			if r.o.Hits {
				err = r.emitHits(x.line, b.hits[i], emit)
			} else {
				err = r.emitIncidents(tr, &join, x.line, b.hits[i], emit)
			}
			if err != nil {
				return err
			}
		}
		clear(b.lines) // drop the lines' text before the batch is reused
		clear(b.hits)
		b.lines = b.lines[:0]
		free <- b
	}
	return nil
}

func (r *replayer) emitHits(l sources.Line, hits []matcher.Hit, emit func(any) error) error {
	for _, h := range hits {
		if err := emit(ReplayHit{Rule: h.Rule.ID, Line: l.Text, Captures: h.Captures, Stream: l.Stream}); err != nil {
			return err
		}
	}
	return nil
}

func (r *replayer) emitIncidents(tr *incidents.Tracker, join *incidents.PIDJoin, l sources.Line, hits []matcher.Hit, emit func(any) error) error {
	events := tr.ObserveHits(l, hits)
	join.Note(events)
	for _, nev := range events {
		if !nev.Notify() {
			continue
		}
		// As the live run: an event a page already covers updates that page.
		for _, ev := range tr.Page(nev, join.Lookup(nev.State)) {
			rule := r.byID[ev.State.Rule]
			inc := incidents.Build(rule, ev, r.o.Host)
			enrich.Attach(inc, rule, r.o.Snapshot, nil)
			inc.SetRelated(incidents.Causes(join.Lookup(ev.State), func(id string) *rules.Rule { return r.byID[id] }))
			if err := emit(inc); err != nil {
				return err
			}
		}
	}
	return nil
}

// tuneLines is how many of the first lines the matcher is fitted to, in a replay and
// in the live run.
const tuneLines = 4096

// The sample fits in the batches a replay reads ahead.
var _ = [replayInFlight*batchLines - tuneLines]struct{}{}

// dater gives each replayed line its time: its own stamp, or else the latest time
// seen so far, which is also the replay's clock.
type dater struct {
	loc   *time.Location
	clock time.Time // the latest line time as of the line being matched
}

func (d *dater) now() time.Time { return d.clock }

// date sets l.Time and advances the clock.
func (d *dater) date(l *sources.Line, latest *time.Time) {
	if l.Labels == nil { // a plain line: its time is in its text, if anywhere
		if t, ok := logtime.Parse(l.Text, d.loc, l.Time); ok {
			l.Time = t
		} else if !latest.IsZero() {
			l.Time = *latest
		}
	}
	if !l.Time.IsZero() && l.Time.After(*latest) {
		*latest = l.Time
	}
	if l.Time.IsZero() {
		l.Time = *latest
	}
}

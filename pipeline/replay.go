package pipeline

import (
	"context"
	"io"
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
// timestamp, or the stamp a plain line starts with), the way the live run does: incidents (or, with Hits, hits) go to emit in order, each an
// *incidents.Incident or a ReplayHit.
//
// Reading runs beside matching: one goroutine reads, splits, decodes and dates the
// lines, in batches, while the caller's matches them and emits in order, so a replay
// uses two cores where it has them.
func Replay(ctx context.Context, rs []*rules.Rule, inputs []Input, o ReplayOptions, emit func(any) error) error {
	m, err := matcher.New(rs)
	if err != nil {
		return err
	}
	byID := map[string]*rules.Rule{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	d := dater{loc: o.Location}
	if d.loc == nil {
		d.loc = time.Local
	}
	var tr *incidents.Tracker
	var hits []matcher.Hit
	var join incidents.PIDJoin
	handle := func(l sources.Line, clock time.Time) error {
		d.clock = clock // the tracker's clock, for lines without a time, runs on the logs'
		if o.Hits {
			hits = m.Match(l, hits[:0])
			for _, h := range hits {
				rh := ReplayHit{Rule: h.Rule.ID, Line: l.Text, Captures: h.Captures, Stream: l.Stream}
				if err := emit(rh); err != nil {
					return err
				}
			}
			return nil
		}
		events := tr.Observe(l)
		join.Note(events)
		for _, nev := range events {
			if !nev.Notify() {
				continue
			}
			// As the live run: an event a page already covers updates that page.
			for _, ev := range tr.Page(nev, join.Lookup(nev.State)) {
				r := byID[ev.State.Rule]
				inc := incidents.Build(r, ev, o.Host)
				enrich.Attach(inc, r, o.Snapshot, nil)
				inc.SetRelated(incidents.Causes(join.Lookup(ev.State), func(id string) *rules.Rule { return byID[id] }))
				if err := emit(inc); err != nil {
					return err
				}
			}
		}
		return nil
	}
	// The first lines are held back to fit the matcher's prefilter to them (which
	// literals these logs hold often), then matched with it like every other line.
	var held []dated
	tune := func() error {
		sample := make([]string, len(held))
		for i, l := range held {
			sample[i] = l.line.Text
		}
		m = m.Tune(sample)
		tr = incidents.NewTracker(m, incidents.Identity{Host: o.Host, Node: o.Node}, d.now)
		for _, l := range held {
			if err := handle(l.line, l.clock); err != nil {
				return err
			}
		}
		held = nil
		return nil
	}
	hold := func(l sources.Line, clock time.Time) error {
		if tr != nil {
			return handle(l, clock)
		}
		d.clock = clock // the next input's lines go on from it
		held = append(held, dated{l, clock})
		if len(held) < tuneLines {
			return nil
		}
		return tune()
	}
	for _, in := range inputs {
		if err := scanBatches(ctx, in, o.Format, &d, hold); err != nil {
			return err
		}
	}
	if tr == nil {
		return tune()
	}
	return nil
}

// tuneLines is how many lines replay fits the matcher to before matching.
const tuneLines = 4096

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

// batchLines is how many lines travel together from the reader to the matcher: one
// channel operation a batch instead of a line.
const batchLines = 256

// dated is a line with the replay's clock as of that line.
type dated struct {
	line  sources.Line
	clock time.Time
}

// scanBatches reads in with file.Scan in one goroutine and calls handle on every line
// with the clock as of it, in order, from another. It returns the first error of
// either.
func scanBatches(ctx context.Context, in Input, format file.Format, d *dater, handle func(sources.Line, time.Time) error) error {
	g, gctx := errgroup.WithContext(ctx)
	full := make(chan []dated, 4)
	free := make(chan []dated, 6)
	for range cap(free) {
		free <- make([]dated, 0, batchLines)
	}
	latest := d.clock
	g.Go(func() error {
		defer close(full)
		batch := <-free
		err := file.Scan(gctx, in.Reader, "replay", in.Name, format, func(l sources.Line) error {
			d.date(&l, &latest)
			batch = append(batch, dated{l, latest})
			if len(batch) < batchLines {
				return nil
			}
			select {
			case full <- batch:
			case <-gctx.Done():
				return gctx.Err()
			}
			select {
			case batch = <-free:
			case <-gctx.Done():
				return gctx.Err()
			}
			return nil
		})
		if err != nil {
			return err
		}
		select {
		case full <- batch:
		case <-gctx.Done():
			return gctx.Err()
		}
		return nil
	})
	g.Go(func() error {
		for batch := range full {
			for _, l := range batch {
				if err := handle(l.line, l.clock); err != nil {
					return err
				}
			}
			clear(batch) // drop the lines' text before the batch is reused
			free <- batch[:0]
		}
		return nil
	})
	return g.Wait()
}

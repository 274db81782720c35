package pipeline

import (
	"context"
	"io"
	"time"

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
func Replay(ctx context.Context, rs []*rules.Rule, inputs []Input, o ReplayOptions, emit func(any) error) error {
	m, err := matcher.New(rs)
	if err != nil {
		return err
	}
	byID := map[string]*rules.Rule{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	var clock time.Time
	now := func() time.Time { return clock }
	tr := incidents.NewTracker(m, incidents.Identity{Host: o.Host, Node: o.Node}, now)
	var hits []matcher.Hit
	var join incidents.PIDJoin
	loc := o.Location
	if loc == nil {
		loc = time.Local
	}
	for _, in := range inputs {
		err := file.Scan(ctx, in.Reader, "replay", in.Name, o.Format, func(l sources.Line) error {
			if l.Labels == nil { // a plain line: its time is in its text, if anywhere
				if t, ok := logtime.Parse(l.Text, loc, l.Time); ok {
					l.Time = t
				} else if !clock.IsZero() {
					l.Time = clock
				}
			}
			if !l.Time.IsZero() && l.Time.After(clock) {
				clock = l.Time
			}
			if l.Time.IsZero() {
				l.Time = clock
			}
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
		})
		if err != nil {
			return err
		}
	}
	return nil
}

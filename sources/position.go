package sources

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PositionKey is the checkpoint key of a source's stream: the source name and the
// stream, so two sources reading one stream (two journald sources with different
// filters, two file sources whose globs overlap) each keep their own position. No
// earlier key contains a NUL byte, nor does a source name, so keys never collide.
func PositionKey(source, stream string) string { return source + "\x00" + stream }

// markStream is the stream of a source's mark: stored once the source has recorded
// the positions of the streams it found at its first start, it holds when this
// process started the source (ms since the epoch).
const markStream = ""

// Positions keeps where each stream of one source is, and is the one place that
// decides where a stream resumes. In order:
//
//  1. the position after the last line this process sent, or where it began reading
//     the stream (a Run after a failed one goes on there);
//  2. the checkpoint: the position the pipeline stored once the stream's lines were
//     handled, or the position recorded when the stream was first found;
//  3. the checkpoint an earlier release stored under the stream's bare name (shared by
//     every source reading that stream then);
//  4. none: the source picks one (start_at at the source's very first start, else the
//     stream's beginning: it appeared while the source was away) and records it with
//     Stream.Discovered and Record before it sends the stream's first line.
//
// Sources never keep their own copy of a position.
type Positions struct {
	source string
	cp     Checkpoints
	read   prometheus.Counter
	lag    prometheus.Gauge
	now    func() time.Time

	mu       sync.Mutex
	streams  map[string]*Stream
	marked   markState
	started  time.Time // when the source started before, as its mark says; zero unknown
	legacy   bool      // a stream resumed from a key an earlier release wrote
	pending  []Cursor  // discovered positions waiting for Record
	recorded bool      // the mark is stored
}

type markState int8

const (
	markUnknown markState = iota
	markAbsent
	markPresent
)

// NewPositions returns the keeper of source's positions in cp (nil: none are stored)
// counting into m (nil: unregistered metrics).
func NewPositions(source string, cp Checkpoints, m *Metrics) *Positions {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Positions{
		source:  source,
		cp:      cp,
		now:     time.Now,
		read:    m.LinesRead.WithLabelValues(source),
		lag:     m.LagSeconds.WithLabelValues(source),
		streams: map[string]*Stream{},
	}
}

// SetClock replaces the clock the lag is measured with (tests).
func (p *Positions) SetClock(now func() time.Time) { p.now = now }

// Stream is one stream's handle: the key its cursors are stored under and its
// position in this process. A handle is used by one goroutine at a time (the Run
// that follows the stream); a later Run takes it over.
type Stream struct {
	p    *Positions
	name string
	key  string
	last string // where reading began, or after the last line sent when not lastC
	// lastC is the cursor of the last line sent, while its position is not written
	// out (Cursor.Offset): last is made from it when asked for.
	lastC    Cursor
	lastLazy bool
}

// Name returns the stream's name: what its lines carry as Line.Stream.
func (st *Stream) Name() string { return st.name }

// Resume returns the stream's handle and the position it resumes at; ok is false when
// there is none (see Positions). err is a checkpoint that could not be read.
func (p *Positions) Resume(ctx context.Context, stream string) (st *Stream, pos string, ok bool, err error) {
	p.mu.Lock()
	st = p.streams[stream]
	if st == nil {
		st = &Stream{p: p, name: stream, key: PositionKey(p.source, stream)}
		p.streams[stream] = st
	}
	last := st.Last()
	p.mu.Unlock()
	if last != "" {
		return st, last, true, nil
	}
	if p.cp == nil {
		return st, "", false, nil
	}
	pos, ok, err = p.cp.Load(ctx, st.key)
	if err != nil {
		return st, "", false, fmt.Errorf("load checkpoint of %s: %w", stream, err)
	}
	if ok && pos != "" {
		return st, pos, true, nil
	}
	// A store from before positions were keyed by source: the bare stream name. Once
	// the stream's own key is written, that is read instead.
	pos, ok, err = p.cp.Load(ctx, stream)
	if err != nil {
		return st, "", false, fmt.Errorf("load checkpoint of %s: %w", stream, err)
	}
	if ok && pos != "" {
		p.mu.Lock()
		p.legacy = true
		p.mu.Unlock()
		return st, pos, true, nil
	}
	return st, "", false, nil
}

// mark reports whether the source's mark is stored, reading it once.
func (p *Positions) mark(ctx context.Context) (bool, error) {
	p.mu.Lock()
	m := p.marked
	p.mu.Unlock()
	if m == markUnknown {
		v, ok, err := p.cp.Load(ctx, PositionKey(p.source, markStream))
		if err != nil {
			return false, fmt.Errorf("load checkpoint of source %s: %w", p.source, err)
		}
		m = markAbsent
		var started time.Time
		if ok {
			m = markPresent
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 1 {
				started = time.UnixMilli(ms)
			}
		}
		p.mu.Lock()
		p.marked, p.started = m, started
		p.mu.Unlock()
	}
	return m == markPresent, nil
}

// RanBefore reports whether this source ran against this state before: its mark is
// stored, or a stream resumed from an earlier release's checkpoint; and since, when
// it last started before this process (zero: not known). A stream without a position
// found at a start that is not the first appeared while the source was away, and is
// read from its beginning, with what rotation made of it since then. Call it after
// Resume for the streams found at the start, and before Record.
func (p *Positions) RanBefore(ctx context.Context) (ran bool, since time.Time, err error) {
	if p.cp == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.recorded, time.Time{}, nil
	}
	marked, err := p.mark(ctx)
	if err != nil {
		return false, time.Time{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return marked || p.legacy, p.started, nil
}

// Discovered sets where a stream without a position starts: it is the stream's
// position in this process at once, and stored by the next Record.
func (st *Stream) Discovered(pos string) {
	p := st.p
	p.mu.Lock()
	defer p.mu.Unlock()
	st.last, st.lastLazy = pos, false
	p.pending = append(p.pending, Cursor{Stream: st.key, Pos: pos})
}

// Record stores, in one write, the positions discovered since the last Record and the
// mark that the source has run. A source calls it before it sends the first line of
// a stream it discovered, so a restart before that line resumes where it began, and
// a line's checkpoint is never overwritten by its stream's discovered position. On
// failure the positions are kept for the next Record.
func (p *Positions) Record(ctx context.Context) error {
	p.mu.Lock()
	cs, mark := p.pending, !p.recorded
	p.pending = nil
	p.mu.Unlock()
	if len(cs) == 0 && !mark {
		return nil
	}
	if p.cp != nil {
		save := cs
		if mark {
			now := strconv.FormatInt(time.Now().UnixMilli(), 10) // the file system's clock, not p.now
			save = append(cs[:len(cs):len(cs)], Cursor{Stream: PositionKey(p.source, markStream), Pos: now})
		}
		if err := p.cp.Save(ctx, save...); err != nil {
			p.mu.Lock()
			p.pending = append(cs, p.pending...)
			p.mu.Unlock()
			return fmt.Errorf("record positions of source %s: %w", p.source, err)
		}
	}
	p.mu.Lock()
	p.recorded, p.marked = true, markPresent // started stays: the start before this one
	p.mu.Unlock()
	return nil
}

// Send counts l, sends it on out alone in a batch (giving up when ctx is done: it
// returns ctx's error) and remembers its cursor as the stream's position. It fills in
// the line's source, stream and cursor stream; the caller sets the rest, Cursor.Pos
// included. With stamped set, l.Time is the record's own time and sets the source's
// lag. A source that reads many lines at once hands them over together (Emitter).
func (st *Stream) Send(ctx context.Context, out chan<- *Batch, l Line, stamped bool) error {
	p := st.p
	l.Source, l.Stream, l.Cursor.Stream = p.source, st.name, st.key
	p.read.Inc() // before the send: whoever has the line can see it counted
	b := NewBatch()
	b.Lines = append(b.Lines, l)
	if err := send(ctx, out, b); err != nil {
		return err
	}
	if stamped {
		p.lag.Set(p.now().Sub(l.Time).Seconds())
	}
	st.remember(l.Cursor)
	return nil
}

// Moved sets the stream's position in this process without a line: where reading goes
// on when nothing was sent (a file that was replaced reads its new content from its
// beginning).
func (st *Stream) Moved(pos string) { st.last, st.lastLazy = pos, false }

// Last returns the stream's position in this process ("" for none).
func (st *Stream) Last() string {
	if st.lastLazy {
		st.last, st.lastLazy = st.lastC.Position(), false
		st.lastC = Cursor{}
	}
	return st.last
}

// Forget drops the stream's position in this process (the stream is gone): a stream
// of that name found later starts from its checkpoint, or afresh.
func (p *Positions) Forget(stream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.streams, stream)
}

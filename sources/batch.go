package sources

import (
	"context"
	"sync"
	"time"
)

// Batch is lines a source hands over together, in the order they were read: the
// lines of one read (a chunk of a file), or a single line. One channel operation
// then moves all of them. Whoever receives a batch owns it; Release gives its
// storage back once its lines are handled.
type Batch struct {
	Lines []Line
}

// maxPooledLines is the most lines a batch kept for reuse holds room for: a batch
// grown past it by an exceptional read is left to the collector.
const maxPooledLines = 1 << 14

var batches = sync.Pool{New: func() any { return new(Batch) }}

// NewBatch returns an empty batch, reusing one released before when there is one.
func NewBatch() *Batch { return batches.Get().(*Batch) }

// Release gives the batch's storage back for another batch. The lines it held stay
// valid (their fields are values and immutable strings); only the batch is gone, and
// b must not be used again.
func (b *Batch) Release() {
	if cap(b.Lines) > maxPooledLines {
		return
	}
	clear(b.Lines) // it would keep the lines' texts in memory while it waits
	b.Lines = b.Lines[:0]
	batches.Put(b)
}

// Emitter gathers the lines a source reads into a batch and hands the batch over at
// Flush: a source flushes once a read's lines are added, never waiting for more
// lines to fill a batch, so a line arrives as soon as the read that brought it is
// done. It does for a batch what Stream.Send does for one line: it fills in each
// line's source and stream, counts the lines, sets the lag, and once the batch is
// handed over, remembers each stream's last line as its position. An Emitter is used
// by one goroutine.
type Emitter struct {
	p   *Positions
	out chan<- *Batch
	b   *Batch
	// lasts says which line is the last of a stream so far, in the order the
	// streams came: positions are remembered once the batch is handed over.
	lasts    []streamLast
	stamp    time.Time // the last stamped line's own time
	hasStamp bool
	size     int // the lines of the last batch: room a new batch is made with
}

type streamLast struct {
	st *Stream
	i  int    // the index of its last line in the batch
	c  Cursor // that line's cursor, once the batch is handed over
}

// Emitter returns an emitter of the source's lines into out.
func (p *Positions) Emitter(out chan<- *Batch) *Emitter { return &Emitter{p: p, out: out} }

// Add puts a copy of *l, a line of st, into the batch. With stamped set, l.Time is
// the record's own time and sets the source's lag once the batch is handed over.
func (e *Emitter) Add(st *Stream, l *Line, stamped bool) {
	if e.b == nil {
		e.b = NewBatch()
		if cap(e.b.Lines) < e.size {
			// A batch the collector took from the pool: made as large as the last
			// one at once, rather than grown to it.
			e.b.Lines = make([]Line, 0, e.size)
		}
	}
	i := len(e.b.Lines)
	e.b.Lines = append(e.b.Lines, *l)
	in := &e.b.Lines[i]
	in.Source, in.Stream, in.Cursor.Stream = e.p.source, st.name, st.key
	if n := len(e.lasts); n > 0 && e.lasts[n-1].st == st {
		e.lasts[n-1].i = i
	} else {
		e.lasts = append(e.lasts, streamLast{st: st, i: i})
	}
	if stamped {
		e.stamp, e.hasStamp = l.Time, true
	}
}

// Len returns how many lines wait in the batch.
func (e *Emitter) Len() int {
	if e.b == nil {
		return 0
	}
	return len(e.b.Lines)
}

// Flush hands the batch over, when it holds lines, waiting for room in out. When ctx
// is done first it returns ctx's error: the lines are dropped and their streams'
// positions stay before them.
func (e *Emitter) Flush(ctx context.Context) error {
	b := e.b
	if b == nil || len(b.Lines) == 0 {
		return nil
	}
	e.b = nil
	e.size = min(len(b.Lines), maxPooledLines)
	p := e.p
	p.read.Add(float64(len(b.Lines))) // before the send: whoever has the lines can see them counted
	lasts := e.lasts
	for i := range lasts { // taken from b before the send: then b is the receiver's
		lasts[i].c = b.Lines[lasts[i].i].Cursor
	}
	e.lasts = lasts[:0]
	stamp, hasStamp := e.stamp, e.hasStamp
	e.hasStamp = false
	if err := send(ctx, e.out, b); err != nil {
		return err
	}
	if hasStamp {
		p.lag.Set(p.now().Sub(stamp).Seconds())
	}
	for _, l := range lasts {
		l.st.remember(l.c)
	}
	return nil
}

// send puts b on out unless ctx is done first.
func send(ctx context.Context, out chan<- *Batch, b *Batch) error {
	select {
	case out <- b: // room in out: no need to look at ctx (selecting on both costs more than the send)
		return nil
	default:
	}
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remember sets the stream's position in this process to after the line with cursor c.
func (st *Stream) remember(c Cursor) {
	if c.Offset {
		st.lastC, st.lastLazy = c, true
	} else {
		st.last, st.lastLazy = c.Pos, false
	}
}

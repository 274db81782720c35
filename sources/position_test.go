package sources_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

// TestPositionsOrder: last sent in this process, else the checkpoint under the
// source's key, else (before the source has recorded anything) the earlier release's
// bare key, else none.
func TestPositionsOrder(t *testing.T) {
	ctx := context.Background()
	cp := sourcestest.NewCheckpoints()
	require.NoError(t, cp.Save(ctx,
		sources.Cursor{Stream: sources.PositionKey("a", "s1"), Pos: "checkpoint"},
		sources.Cursor{Stream: "s1", Pos: "legacy, shadowed"},
		sources.Cursor{Stream: "s2", Pos: "legacy"},
	))
	p := sources.NewPositions("a", cp, nil)
	resume := func(stream string) (string, bool) {
		t.Helper()
		_, pos, ok, err := p.Resume(ctx, stream)
		require.NoError(t, err)
		return pos, ok
	}
	pos, ok := resume("s1")
	require.True(t, ok)
	require.Equal(t, "checkpoint", pos)
	pos, ok = resume("s2")
	require.True(t, ok)
	require.Equal(t, "legacy", pos)
	_, ok = resume("s3")
	require.False(t, ok)
	ran, _, err := p.RanBefore(ctx)
	require.NoError(t, err)
	require.True(t, ran, "a stream resumed from an earlier release's key: the source ran")

	// Last sent wins, and is what Record does not overwrite.
	st, _, _, err := p.Resume(ctx, "s1")
	require.NoError(t, err)
	out := make(chan *sources.Batch, 1)
	require.NoError(t, st.Send(ctx, out, sources.Line{Text: "x", Cursor: sources.Cursor{Pos: "sent"}}, false))
	l := (<-out).Lines[0]
	require.Equal(t, sources.Line{Source: "a", Stream: "s1", Text: "x", Cursor: sources.Cursor{Stream: sources.PositionKey("a", "s1"), Pos: "sent"}}, l)
	pos, _ = resume("s1")
	require.Equal(t, "sent", pos)
	// A cursor whose offset is left apart: the position is written out when asked.
	require.NoError(t, st.Send(ctx, out, sources.Line{Text: "y", Cursor: sources.Cursor{Pos: "head:", Off: 7, Done: 9, Offset: true}}, false))
	l = (<-out).Lines[0]
	require.Equal(t, "head:7+9", l.Cursor.Position())
	pos, _ = resume("s1")
	require.Equal(t, "head:7+9", pos)
	require.Equal(t, "head:7+9", st.Last())

	// A discovered position is stored, with the source's mark, by Record.
	s3, _, _, err := p.Resume(ctx, "s3")
	require.NoError(t, err)
	s3.Discovered("begins here")
	require.NoError(t, p.Record(ctx))
	p2 := sources.NewPositions("a", cp, nil)
	_, pos, ok, err = p2.Resume(ctx, "s3")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "begins here", pos)
	ran, since, err := p2.RanBefore(ctx)
	require.NoError(t, err)
	require.True(t, ran)
	require.WithinDuration(t, time.Now(), since, time.Minute, "when the source started before")
	// A source with several streams (journal directories) migrates each, whichever
	// recorded first.
	require.NoError(t, cp.Save(ctx, sources.Cursor{Stream: "s5", Pos: "legacy too"}))
	_, pos, ok, err = p2.Resume(ctx, "s5")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "legacy too", pos)

	// Another source's positions are its own.
	_, _, ok, err = sources.NewPositions("b", cp, nil).Resume(ctx, "s3")
	require.NoError(t, err)
	require.False(t, ok)
}

// failing is a store whose Save fails until told otherwise.
type failing struct {
	*sourcestest.Checkpoints
	fail bool
}

func (f *failing) Save(ctx context.Context, cs ...sources.Cursor) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Checkpoints.Save(ctx, cs...)
}

// TestPositionsRecordRetries: a Record that fails keeps what it had to store for the
// next one, and a first start is told apart from a later one.
func TestPositionsRecordRetries(t *testing.T) {
	ctx := context.Background()
	cp := &failing{Checkpoints: sourcestest.NewCheckpoints(), fail: true}
	p := sources.NewPositions("a", cp, nil)
	ran, _, err := p.RanBefore(ctx)
	require.NoError(t, err)
	require.False(t, ran)
	st, _, ok, err := p.Resume(ctx, "s")
	require.NoError(t, err)
	require.False(t, ok)
	st.Discovered("0")
	require.ErrorContains(t, p.Record(ctx), "disk full")
	cp.fail = false
	require.NoError(t, p.Record(ctx))
	pos, ok, err := cp.Load(ctx, sources.PositionKey("a", "s"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "0", pos)
	ran, _, err = sources.NewPositions("a", cp, nil).RanBefore(ctx)
	require.NoError(t, err)
	require.True(t, ran)
}

// TestSendCountsAndLags: a line is counted before it is sent, a stamped one sets the
// lag, and a send abandoned for ctx keeps the position where it was.
func TestSendCountsAndLags(t *testing.T) {
	m := sources.NewMetrics(nil)
	p := sources.NewPositions("a", nil, m)
	now := time.Unix(1000, 0)
	p.SetClock(func() time.Time { return now })
	st, _, _, err := p.Resume(context.Background(), "s")
	require.NoError(t, err)
	out := make(chan *sources.Batch, 1)
	require.NoError(t, st.Send(context.Background(), out, sources.Line{Time: now.Add(-3 * time.Second), Cursor: sources.Cursor{Pos: "1"}}, true))
	require.InDelta(t, 3, testutil.ToFloat64(m.LagSeconds.WithLabelValues("a")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.LinesRead.WithLabelValues("a")), 0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, st.Send(ctx, out, sources.Line{Cursor: sources.Cursor{Pos: "2"}}, false), context.Canceled)
	require.Equal(t, "1", st.Last())
}

// TestEmitterBatch: an emitter hands the lines added since its last flush over in one
// batch, in order, each with its source and stream; each stream's position is after
// its last line once the batch is handed over, not before; lines are counted and the
// lag set from the last stamped line. A flush abandoned for ctx keeps the positions
// where they were.
func TestEmitterBatch(t *testing.T) {
	ctx := context.Background()
	m := sources.NewMetrics(nil)
	p := sources.NewPositions("a", nil, m)
	now := time.Unix(1000, 0)
	p.SetClock(func() time.Time { return now })
	s1, _, _, err := p.Resume(ctx, "s1")
	require.NoError(t, err)
	s2, _, _, err := p.Resume(ctx, "s2")
	require.NoError(t, err)
	out := make(chan *sources.Batch, 1)
	em := p.Emitter(out)
	require.NoError(t, em.Flush(ctx), "nothing to hand over")
	require.Empty(t, out)
	em.Add(s1, &sources.Line{Text: "1", Cursor: sources.Cursor{Pos: "s1:1"}}, false)
	em.Add(s2, &sources.Line{Text: "2", Time: now.Add(-5 * time.Second), Cursor: sources.Cursor{Pos: "s2:1"}}, true)
	em.Add(s1, &sources.Line{Text: "3", Cursor: sources.Cursor{Pos: "f;", Off: 30, Offset: true}}, false)
	em.Add(s2, &sources.Line{Text: "4", Time: now.Add(-2 * time.Second), Cursor: sources.Cursor{Pos: "s2:2"}}, true)
	require.Equal(t, 4, em.Len())
	require.Empty(t, s1.Last(), "not handed over yet")
	require.NoError(t, em.Flush(ctx))
	require.Zero(t, em.Len())
	b := <-out
	var texts []string
	for _, l := range b.Lines {
		texts = append(texts, l.Text)
		require.Equal(t, "a", l.Source)
		require.Equal(t, sources.PositionKey("a", l.Stream), l.Cursor.Stream)
	}
	require.Equal(t, []string{"1", "2", "3", "4"}, texts)
	require.Equal(t, []string{"s1", "s2", "s1", "s2"}, []string{b.Lines[0].Stream, b.Lines[1].Stream, b.Lines[2].Stream, b.Lines[3].Stream})
	b.Release()
	require.Equal(t, "f;30", s1.Last())
	require.Equal(t, "s2:2", s2.Last())
	require.InDelta(t, 4, testutil.ToFloat64(m.LinesRead.WithLabelValues("a")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(m.LagSeconds.WithLabelValues("a")), 0)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	out <- sources.NewBatch() // full: the flush waits, and gives up
	em.Add(s1, &sources.Line{Text: "5", Cursor: sources.Cursor{Pos: "s1:5"}}, false)
	require.ErrorIs(t, em.Flush(cctx), context.Canceled)
	require.Equal(t, "f;30", s1.Last(), "a line never handed over is not the position")
	<-out
	em.Add(s1, &sources.Line{Text: "6", Cursor: sources.Cursor{Pos: "s1:6"}}, false)
	require.NoError(t, em.Flush(ctx))
	require.Equal(t, []sources.Line{{Source: "a", Stream: "s1", Text: "6", Cursor: sources.Cursor{Stream: sources.PositionKey("a", "s1"), Pos: "s1:6"}}}, (<-out).Lines,
		"the dropped line is not handed over with the next")
}

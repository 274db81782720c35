package sources

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is a Source whose runs end with the scripted results in order; a result of
// errBlock runs until ctx is done.
type scripted struct {
	results []error
	runs    chan int // the number of each run as it starts
	n       int
}

var errBlock = errors.New("block")

func (s *scripted) Name() string { return "scripted" }

func (s *scripted) Run(ctx context.Context, out chan<- *Batch) error {
	i := s.n
	s.n++
	s.runs <- s.n
	if i >= len(s.results) || errors.Is(s.results[i], errBlock) {
		<-ctx.Done()
		return nil
	}
	return s.results[i]
}

// fakeClock hands out timers the test fires by hand and records the requested waits.
type fakeClock struct {
	waits  chan time.Duration
	timers chan chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{waits: make(chan time.Duration, 100), timers: make(chan chan time.Time, 100)}
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- d
	c.timers <- ch
	return ch
}

func testSupervisor(t *testing.T, c *fakeClock) (*supervisor, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	m := NewMetrics(nil)
	return &supervisor{
		min: time.Second, max: time.Minute, stable: 30 * time.Second,
		after: c.after, jitter: func(time.Duration) time.Duration { return 0 },
		log:      zap.New(core),
		failures: m.Failures.WithLabelValues("test"),
		up:       m.Up.WithLabelValues("test"),
	}, logs
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
		panic("unreachable")
	}
}

func TestSuperviseBackoffDoublesToCap(t *testing.T) {
	boom := errors.New("boom")
	results := make([]error, 9)
	for i := range results {
		results[i] = boom
	}
	src := &scripted{results: append(results, errBlock), runs: make(chan int, 20)}
	c := newFakeClock()
	sv, logs := testSupervisor(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.run(ctx, src, make(chan *Batch)) }()

	var backoffs []time.Duration
	for range 9 {
		receive(t, src.runs)
		require.Equal(t, 30*time.Second, receive(t, c.waits), "stable timer")
		<-c.timers // the stable timer, never fired
		backoffs = append(backoffs, receive(t, c.waits))
		require.InDelta(t, 0, testutil.ToFloat64(sv.up), 0, "down while it waits")
		receive(t, c.timers) <- time.Now()
	}
	receive(t, src.runs)
	require.InDelta(t, 9, testutil.ToFloat64(sv.failures), 0)
	require.Eventually(t, func() bool { return testutil.ToFloat64(sv.up) == 1 }, 10*time.Second, time.Millisecond, "up while the tenth run runs")
	cancel()
	require.NoError(t, receive(t, done))
	require.InDelta(t, 9, testutil.ToFloat64(sv.failures), 0, "a cancelled run is no failure")
	require.InDelta(t, 0, testutil.ToFloat64(sv.up), 0)

	s := time.Second
	require.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, 60 * s}, backoffs)
	require.Equal(t, 1, logs.FilterMessage("source failed, restarting").Len(), "one warning for a repeating failure")
	require.Equal(t, 8, logs.FilterMessage("source failed again").Len())
}

func TestSuperviseLogsChangeAndRecovery(t *testing.T) {
	src := &scripted{
		results: []error{errors.New("a"), errors.New("b"), errBlock},
		runs:    make(chan int, 10),
	}
	c := newFakeClock()
	sv, logs := testSupervisor(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.run(ctx, src, make(chan *Batch)) }()

	for range 2 { // two failures, each followed by a backoff wait
		receive(t, src.runs)
		receive(t, c.waits)
		<-c.timers
		receive(t, c.waits)
		receive(t, c.timers) <- time.Now()
	}
	receive(t, src.runs) // the third run stays up
	receive(t, c.waits)
	receive(t, c.timers) <- time.Now() // it has been up for the stable period
	require.Eventually(t, func() bool { return logs.FilterMessage("source recovered").Len() == 1 },
		10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, receive(t, done))

	warns := logs.FilterMessage("source failed, restarting").All()
	require.Len(t, warns, 2, "a changed error is reported again")
	require.Equal(t, zapcore.WarnLevel, warns[0].Level)
	require.Equal(t, zapcore.InfoLevel, logs.FilterMessage("source recovered").All()[0].Level)
}

func TestSuperviseReturns(t *testing.T) {
	tests := []struct {
		name    string
		results []error
		waits   int // timers to see requested before cancelling; 0: no cancel
	}{
		{name: "source ended", results: []error{nil}},
		{name: "ctx done while running", results: []error{errBlock}, waits: 1},
		{name: "ctx done while backing off", results: []error{errors.New("x")}, waits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &scripted{results: tt.results, runs: make(chan int, 10)}
			c := newFakeClock()
			sv, _ := testSupervisor(t, c)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- sv.run(ctx, src, make(chan *Batch)) }()
			receive(t, src.runs)
			for range tt.waits { // the stable timer, then the backoff
				receive(t, c.waits)
			}
			cancel()
			require.NoError(t, receive(t, done))
			require.Equal(t, 1, src.n, "not restarted")
		})
	}
}

func TestSuperviseDefaults(t *testing.T) {
	r, w, err := pipe(t)
	require.NoError(t, err)
	out := make(chan *Batch, 1)
	done := make(chan error, 1)
	m := NewMetrics(nil)
	go func() { done <- Supervise(context.Background(), NewReader("stdin", r, nil), out, m, nil, zap.NewNop()) }()
	_, err = w.Write([]byte("hello\n"))
	require.NoError(t, err)
	require.Equal(t, "hello", receive(t, out).Lines[0].Text)
	require.NoError(t, w.Close())
	require.NoError(t, receive(t, done), "EOF ends the source and Supervise")
	require.InDelta(t, 0, testutil.ToFloat64(m.Failures.WithLabelValues("stdin")), 0, "an ended source did not fail")
	require.InDelta(t, 0, testutil.ToFloat64(m.Up.WithLabelValues("stdin")), 0)
}

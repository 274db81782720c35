package file

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait in these tests; reaching it is a failure, not a timing.
const wait = 20 * time.Second

// clock is a hand-moved clock for flush timeouts and grace periods.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness runs a Source and hands its lines and scans to the test. Every received
// line's cursor is saved, as the pipeline does once the line is handled. The source's
// batches are received one at a time (out has no room): a batch's lines wait in
// pending for the test to take them.
type harness struct {
	t       *testing.T
	src     *Source
	cp      *sourcestest.Checkpoints
	clock   *clock
	out     chan *sources.Batch
	pending []sources.Line
	scans   chan struct{}
	cancel  context.CancelFunc
	done    chan error
	m       *sources.Metrics
}

// testConfig is a fast-polling config reading from the beginning.
func testConfig(paths ...string) Config {
	c := DefaultConfig
	c.Paths = paths
	c.StartAt = "beginning"
	c.PollInterval = 5 * time.Millisecond
	c.RescanInterval = c.PollInterval // every tick a full scan: settle sees everything
	return c
}

func start(t *testing.T, c Config, cp *sourcestest.Checkpoints, opts ...func(*Source)) *harness {
	t.Helper()
	return startNamed(t, "app", c, cp, opts...)
}

// startNamed runs a source named name: sources keep their positions apart by name.
func startNamed(t *testing.T, name string, c Config, cp *sourcestest.Checkpoints, opts ...func(*Source)) *harness {
	t.Helper()
	if cp == nil {
		cp = sourcestest.NewCheckpoints()
	}
	h := &harness{t: t, cp: cp, clock: newClock(), out: make(chan *sources.Batch), scans: make(chan struct{}), done: make(chan error, 1)}
	h.m = sources.NewMetrics(nil)
	src, err := New(c, sources.Deps{Name: name, Checkpoints: cp, Metrics: h.m, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	src.now = h.clock.Now
	src.afterScan = func(ctx context.Context) {
		select {
		case h.scans <- struct{}{}:
		case <-ctx.Done():
		}
	}
	for _, o := range opts {
		o(src)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- src.Run(ctx, h.out) }()
	t.Cleanup(h.stop)
	return h
}

// stop cancels Run and waits for it; it may be called more than once.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(wait):
		h.t.Fatal("Run did not return after cancel")
	}
}

// next returns the next line, letting scans pass.
func (h *harness) next() sources.Line {
	h.t.Helper()
	deadline := time.After(wait)
	for {
		if len(h.pending) > 0 {
			l := h.pending[0]
			h.pending = h.pending[1:]
			require.NoError(h.t, h.cp.Save(context.Background(), l.Cursor))
			return l
		}
		select {
		case b := <-h.out:
			require.NotEmpty(h.t, b.Lines, "an empty batch")
			h.pending = b.Lines
		case <-h.scans:
		case <-deadline:
			h.t.Fatal("no line came")
		}
	}
}

// expect receives len(want) lines and requires exactly these texts, in order.
func (h *harness) expect(want ...string) []sources.Line {
	h.t.Helper()
	var got []sources.Line
	var texts []string
	for range want {
		l := h.next()
		got = append(got, l)
		texts = append(texts, l.Text)
	}
	require.Equal(h.t, want, texts)
	return got
}

// readBlocked lets scans pass until the source has read n lines in all, the last
// batch of which it then holds: it waits for the test to take it, and reads nothing
// meanwhile.
func (h *harness) readBlocked(n float64) {
	h.t.Helper()
	read := h.m.LinesRead.WithLabelValues(h.src.name)
	deadline := time.After(wait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for testutil.ToFloat64(read) < n {
		select {
		case <-h.scans:
		case <-tick.C:
		case <-deadline:
			h.t.Fatalf("the source read %v lines, not %v", testutil.ToFloat64(read), n)
		}
	}
}

// settle waits for two full scans, so everything written before the call was seen,
// and fails on any line sent meanwhile.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.After(wait)
	if len(h.pending) > 0 {
		h.t.Fatalf("unexpected line %q", h.pending[0].Text)
	}
	for range 2 {
		select {
		case b := <-h.out:
			h.t.Fatalf("unexpected line %q", b.Lines[0].Text)
		case <-h.scans:
		case <-deadline:
			h.t.Fatal("no scan came")
		}
	}
}

// writeFile creates (or replaces) a file with content.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// appendFile appends to a file, creating it.
// openAppend opens a file for appending, as a logging process keeps it.
func openAppend(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// copyTruncate does what logrotate's copytruncate does: copy the file, then truncate
// the original in place.
func copyTruncate(t *testing.T, path, copyPath string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copyPath, b, 0o644))
	require.NoError(t, os.Truncate(path, 0))
}

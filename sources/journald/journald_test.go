package journald

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if err := testenv.StopJournald(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}))
}

// waitFor is how long a test waits for journald to hand over a line.
const waitFor = 30 * time.Second

// identifier is a SYSLOG_IDENTIFIER no other test or run uses.
func identifier(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("cowbell-%s-%d-%08x", name, os.Getpid(), rand.Uint32())
}

// running is a Source running in the background until the test ends.
type running struct {
	src     *Source
	out     chan *sources.Batch
	pending []sources.Line // the rest of the batch received last
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
}

func start(t *testing.T, c Config, cp sources.Checkpoints, m *sources.Metrics) *running {
	t.Helper()
	return startNamed(t, "journal", c, cp, m)
}

// startNamed runs a source named name: sources keep their positions apart by name.
func startNamed(t *testing.T, name string, c Config, cp sources.Checkpoints, m *sources.Metrics) *running {
	t.Helper()
	src, err := New(c, sources.Deps{Name: name, Checkpoints: cp, Metrics: m, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, out: make(chan *sources.Batch, 100), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the source and checks that it returned nil; later calls do nothing.
func (r *running) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			require.NoError(t, err)
		case <-time.After(waitFor):
			t.Fatal("source did not stop")
		}
	})
}

// next returns the next line, failing the test after waitFor.
func (r *running) next(t *testing.T) sources.Line {
	t.Helper()
	for len(r.pending) == 0 {
		select {
		case b := <-r.out:
			r.pending = b.Lines
		case err := <-r.done:
			t.Fatalf("source stopped: %v", err)
		case <-time.After(waitFor):
			t.Fatal("no line within deadline")
		}
	}
	l := r.pending[0]
	r.pending = r.pending[1:]
	return l
}

// texts reads n lines and returns their texts.
func (r *running) texts(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = r.next(t).Text
	}
	return out
}

// quiet checks that no further line arrives once journald has written all it got.
func (r *running) quiet(t *testing.T, env *testenv.JournalEnv, id string) {
	t.Helper()
	env.Send(t, id, "quiet-marker", nil)
	require.Equal(t, "quiet-marker", r.next(t).Text, "no line after the expected ones")
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func send(t *testing.T, env *testenv.JournalEnv, id string, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		env.Send(t, id, m, nil)
	}
}

func TestLinesAndLabels(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			m := sources.NewMetrics(nil)
			r := start(t, Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}, nil, m)
			msgs := []string{
				"Out of memory: Killed process 4242 (redis-server)",
				"colour \x1b[31mred\x1b[0m and a tab\there", // not printable: a byte array in JSON
				"two\nlines",
				"trailing newline\n",
				"ünïcödé ✓",
			}
			before := time.Now()
			send(t, env, id, msgs)
			host, err := os.Hostname()
			require.NoError(t, err)
			boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
			require.NoError(t, err)
			for i, want := range msgs {
				l := r.next(t)
				require.Equal(t, strings.TrimRight(want, "\n"), l.Text, "line %d", i)
				require.Equal(t, "journal", l.Source)
				require.Equal(t, "journal", l.Stream)
				require.Equal(t, sources.Cursor{Stream: sources.PositionKey("journal", "journal"), Pos: l.Cursor.Pos}, l.Cursor)
				require.Contains(t, l.Cursor.Pos, "b="+strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", ""))
				require.WithinRange(t, l.Time, before.Add(-time.Second), time.Now())
				require.Equal(t, id, l.Labels["identifier"])
				require.Equal(t, "journal", l.Labels["transport"])
				require.Equal(t, "6", l.Labels["priority"])
				require.Equal(t, fmt.Sprint(os.Getpid()), l.Labels["pid"])
				require.Equal(t, host, l.Labels["hostname"])
				require.NotEmpty(t, l.Labels["comm"])
				require.NotEmpty(t, l.Labels["boot_id"])
			}
			require.InDelta(t, float64(len(msgs)), testutil.ToFloat64(m.LinesRead), 0)
		})
	}
}

func TestStartAtEnd(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		for _, old := range []int{0, 2} { // 0: no earlier entry matches the filter
			t.Run(fmt.Sprintf("%s/%d old", reader, old), func(t *testing.T) {
				id := identifier(t)
				send(t, env, id, numbered("old", 0, old))
				env.Journalctl(t, "--sync")
				r := start(t, Config{Identifiers: []string{id}, Priority: 7, StartAt: "end", Reader: reader}, nil, nil)
				// Sent at once: the source may not have reached the journal's end yet,
				// and must still pass on everything logged after it was made.
				send(t, env, id, []string{"new 1", "new 2"})
				require.Equal(t, []string{"new 1", "new 2"}, r.texts(t, 2))
				r.quiet(t, env, id)
			})
		}
	}
}

func TestFilters(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id, other := identifier(t), identifier(t)
			c := Config{Identifiers: []string{id, other}, Transports: []string{"journal"}, Priority: 4, StartAt: "beginning", Reader: reader}
			r := start(t, c, nil, nil)
			env.Send(t, id, "info is too low", map[string]string{"PRIORITY": "6"})
			env.Send(t, id, "warning passes", map[string]string{"PRIORITY": "4"})
			env.Send(t, other, "error from the other passes", map[string]string{"PRIORITY": "3"})
			env.Send(t, "cowbell-unrelated", "not this identifier", map[string]string{"PRIORITY": "2"})
			env.Send(t, id, "crit passes", map[string]string{"PRIORITY": "2"})
			require.Equal(t, []string{"warning passes", "error from the other passes", "crit passes"}, r.texts(t, 3))
			env.Send(t, id, "quiet-marker", map[string]string{"PRIORITY": "0"})
			require.Equal(t, "quiet-marker", r.next(t).Text)
		})
	}
}

func TestDirectory(t *testing.T) {
	env := testenv.Journald(t)
	for _, reader := range readers {
		t.Run(reader, func(t *testing.T) {
			id := identifier(t)
			c := Config{Directories: []string{env.Root}, Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}
			r := start(t, c, nil, nil)
			send(t, env, id, []string{"from the directory"})
			l := r.next(t)
			require.Equal(t, "from the directory", l.Text)
			require.Equal(t, "journal:"+env.Root, l.Stream)
			require.Equal(t, sources.PositionKey("journal", "journal:"+env.Root), l.Cursor.Stream)
		})
	}
}

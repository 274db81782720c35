package kmsg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script is a reader returning one scripted record or error per Read, then errEnd.
type script struct{ steps []any }

var errEnd = errors.New("end of script")

func (s *script) Read(b []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, errEnd
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if err, ok := step.(error); ok {
		return 0, err
	}
	return copy(b, step.(string)), nil
}

func TestLoop(t *testing.T) {
	m := sources.NewMetrics(nil)
	s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Metrics: m, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	s.boot = boot
	r := &script{steps: []any{
		"6,5,1,-;already sent\n",
		"6,6,2,-;six\n",
		&os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE},
		"6,9,3,-;nine: 7 and 8 were overwritten\n",
		"garbage",
		"6,10,4,-;ten\n SUBSYSTEM=memory\n",
	}}
	out := make(chan *sources.Batch, 10)
	st, _, _, err := s.pos.Resume(context.Background(), s.path)
	require.NoError(t, err)
	err = s.loop(context.Background(), r, st, 5, out)
	require.ErrorIs(t, err, errEnd)
	close(out)
	var got []string
	for _, l := range lines(out) {
		got = append(got, fmt.Sprintf("%s|%s|%s", l.Text, l.Cursor.Pos, l.Time.Sub(boot)))
		require.Equal(t, "/dev/kmsg", l.Stream)
		require.Equal(t, "kernel", l.Source)
	}
	id := s.bootID
	require.Equal(t, []string{
		"six|" + id + ":6|2µs",
		"nine: 7 and 8 were overwritten|" + id + ":9|3µs",
		"ten|" + id + ":10|4µs",
	}, got)
	require.InDelta(t, 3, testutil.ToFloat64(m.LinesRead), 0)
	require.InDelta(t, 2, testutil.ToFloat64(m.LinesSkipped.WithLabelValues("kernel", "overrun")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.LinesSkipped.WithLabelValues("kernel", "undecodable")), 0)

	// A restart of the same Source goes on after the last record sent.
	_, after, found, err := s.position(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(10), after)
	require.True(t, found)
}

func TestPosition(t *testing.T) {
	tests := []struct {
		name       string
		checkpoint string // "" = none
		legacy     bool   // stored under the stream's bare name, as before positions had keys
		after      int64
		found      bool
	}{
		{name: "no checkpoint", after: -1},
		{name: "this boot", checkpoint: "BOOT:42", after: 42, found: true},
		{name: "this boot, before its first record", checkpoint: "BOOT:-1", after: -1, found: true},
		{name: "an earlier release's key", checkpoint: "BOOT:42", legacy: true, after: 42, found: true},
		{name: "an earlier boot: all records are new", checkpoint: "0000:42", after: -1, found: true},
		{name: "malformed: as without", checkpoint: "42", after: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := sourcestest.NewCheckpoints()
			s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Checkpoints: cp, Log: zaptest.NewLogger(t)})
			require.NoError(t, err)
			if tt.checkpoint != "" {
				pos := strings.ReplaceAll(tt.checkpoint, "BOOT", s.bootID)
				key := sources.PositionKey("kernel", "/dev/kmsg")
				if tt.legacy {
					key = "/dev/kmsg"
				}
				require.NoError(t, cp.Save(context.Background(), sources.Cursor{Stream: key, Pos: pos}))
			}
			_, after, found, err := s.position(context.Background())
			require.NoError(t, err)
			require.Equal(t, tt.after, after)
			require.Equal(t, tt.found, found)
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
		want                Config
	}{
		{name: "defaults", yaml: "{}", want: DefaultConfig},
		{name: "set", yaml: "path: /host/dev/kmsg\nstart_at: beginning\n", want: Config{Path: "/host/dev/kmsg", StartAt: "beginning"}},
		{name: "relative", yaml: "path: dev/kmsg\n", wantErr: `1:7: path: "dev/kmsg" is not an absolute path`},
		{name: "start_at", yaml: "start_at: now\n", wantErr: `1:11: start_at: "now" is not end or beginning`},
		{name: "unknown", yaml: "paht: /dev/kmsg\n", wantErr: `1:1: unknown field "paht"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tt.yaml), &c)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, c)
		})
	}
}

// writeKmsg logs a line to the kernel ring buffer. Each write opens the device anew:
// the kernel rate-limits writes per open file.
func writeKmsg(t *testing.T, line string) {
	t.Helper()
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(line)
	require.NoError(t, err)
}

func TestDevKmsg(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		testenv.Missing(t, "/dev/kmsg: %v", err)
	}
	marker := fmt.Sprintf("cowbell-kmsg-test-%d-%08x", os.Getpid(), rand.Uint32())
	cp := sourcestest.NewCheckpoints()
	m := sources.NewMetrics(nil)
	s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Checkpoints: cp, Metrics: m, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)

	// From the end: probe until a marker comes through, then one more.
	run := startRun(t, s)
	before := time.Now()
	first := run.until(t, marker+" probe", func(i int) { writeKmsg(t, fmt.Sprintf("<4>%s probe %d\n", marker, i)) })
	require.Equal(t, "user", first.Labels["facility"])
	require.Equal(t, "4", first.Labels["priority"])
	require.WithinRange(t, first.Time, before.Add(-time.Second), time.Now().Add(time.Second))
	require.NoError(t, cp.Save(context.Background(), first.Cursor))
	run.stop(t)

	// Resume from the checkpoint: a record logged while stopped is read, the
	// checkpointed one is not read again.
	writeKmsg(t, fmt.Sprintf("<3>%s while stopped\n", marker))
	s2, err := New(DefaultConfig, sources.Deps{Name: "kernel", Checkpoints: cp, Metrics: m, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	run = startRun(t, s2)
	l := run.until(t, marker, nil)
	require.Equal(t, marker+" while stopped", l.Text)
	require.Equal(t, "3", l.Labels["priority"])
	run.stop(t) // blocked in a read: the deadline ends it
}

// TestDevKmsgRunAgain: a Run started at the end and stopped before it sent anything
// (Supervise restarts a failed source with backoff): the next Run of the same Source
// reads what the kernel logged in between, instead of starting at the new end.
func TestDevKmsgRunAgain(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		testenv.Missing(t, "/dev/kmsg: %v", err)
	}
	marker := fmt.Sprintf("cowbell-kmsg-again-%d-%08x", os.Getpid(), rand.Uint32())
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Log: zap.New(core)})
	require.NoError(t, err)
	writeKmsg(t, fmt.Sprintf("<4>%s before the start\n", marker))
	run := startRun(t, s)
	require.Eventually(t, func() bool { return logs.FilterMessage("reading the kernel log").Len() == 1 },
		30*time.Second, 10*time.Millisecond, "positioned at the end")
	run.stop(t)

	writeKmsg(t, fmt.Sprintf("<4>%s between the runs\n", marker))
	run = startRun(t, s)
	l := run.until(t, marker, nil)
	require.Equal(t, marker+" between the runs", l.Text, "the record before the start stays behind")
	run.stop(t)
}

// lines returns the lines of the batches in out, which is closed.
func lines(out <-chan *sources.Batch) []sources.Line {
	var ls []sources.Line
	for b := range out {
		ls = append(ls, b.Lines...)
	}
	return ls
}

type kmsgRun struct {
	out    chan *sources.Batch
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startRun(t *testing.T, s *Source) *kmsgRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &kmsgRun{out: make(chan *sources.Batch, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *kmsgRun) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("source did not stop")
		}
	})
}

// until returns the first line starting with prefix, calling poke (if set) every 100ms
// while it waits; other kernel records are passed over.
func (r *kmsgRun) until(t *testing.T, prefix string, poke func(i int)) sources.Line {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for i := 0; ; i++ {
		if poke != nil {
			poke(i)
		}
		tick := time.After(100 * time.Millisecond) // not a timing assertion: poke again
		for waiting := true; waiting; {
			select {
			case b := <-r.out:
				for _, l := range b.Lines {
					if strings.HasPrefix(l.Text, prefix) {
						return l
					}
				}
			case err := <-r.done:
				t.Fatalf("source stopped: %v", err)
			case <-tick:
				waiting = false
			case <-deadline:
				t.Fatalf("no line starting with %q", prefix)
			}
		}
	}
}

// TestDevKmsgQuietRestart: a source started at the end that sent nothing before it
// was stopped reads, after a restart, what the kernel logged while it was down: where
// it began is stored when it starts.
func TestDevKmsgQuietRestart(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		testenv.Missing(t, "/dev/kmsg: %v", err)
	}
	marker := fmt.Sprintf("cowbell-kmsg-quiet-%d-%08x", os.Getpid(), rand.Uint32())
	cp := sourcestest.NewCheckpoints()
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Checkpoints: cp, Log: zap.New(core)})
	require.NoError(t, err)
	writeKmsg(t, fmt.Sprintf("<4>%s before the start\n", marker))
	run := startRun(t, s)
	require.Eventually(t, func() bool { return logs.FilterMessage("reading the kernel log").Len() == 1 },
		30*time.Second, 10*time.Millisecond, "positioned at the end")
	run.stop(t)

	writeKmsg(t, fmt.Sprintf("<4>%s while stopped\n", marker))
	s2, err := New(DefaultConfig, sources.Deps{Name: "kernel", Checkpoints: cp, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	run = startRun(t, s2)
	l := run.until(t, marker, nil)
	require.Equal(t, marker+" while stopped", l.Text, "the record before the first start stays behind")
	run.stop(t)
}

// TestNotTheKernelLog: a kmsg source pointed at something other than the kernel log
// (/dev/zero once spun a core reading zeros as records) fails at once with an error
// that says so; Supervise then backs off.
func TestNotTheKernelLog(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "kmsg")
	require.NoError(t, os.WriteFile(regular, []byte("6,1,1,-;a record\n"), 0o600))
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "/dev/zero is not the kernel log: character device 1:5, /dev/kmsg is 1:11"},
		{"/dev/null", "/dev/null is not the kernel log: character device 1:3"},
		{regular, "is not the kernel log: not a character device"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, err := New(Config{Path: tc.path, StartAt: "beginning"}, sources.Deps{Name: "kernel", Log: zaptest.NewLogger(t)})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- s.Run(context.Background(), make(chan *sources.Batch)) }()
			select {
			case err := <-done:
				require.ErrorContains(t, err, tc.want)
			case <-time.After(10 * time.Second):
				t.Fatalf("Run on %s did not fail", tc.path)
			}
		})
	}
}

// garbage is a reader that never blocks and never returns a record.
type garbage struct{}

func (garbage) Read(b []byte) (int, error) { return copy(b, "\x00\x00\x00\x00"), nil }

// TestLoopGarbage: reads that never block and never return a record end the run.
func TestLoopGarbage(t *testing.T) {
	s, err := New(DefaultConfig, sources.Deps{Name: "kernel", Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	st, _, _, err := s.pos.Resume(context.Background(), s.path)
	require.NoError(t, err)
	err = s.loop(context.Background(), garbage{}, st, -1, make(chan *sources.Batch))
	require.ErrorIs(t, err, errNotKmsg)
}

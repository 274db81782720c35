package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

// bump moves a file's modification time forward, as a later write would.
func bump(t *testing.T, path string, by time.Duration) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	at := fi.ModTime().Add(by)
	require.NoError(t, os.Chtimes(path, at, at))
}

// TestResume stops a source after it sent a1 and a2 (their cursors saved), changes the
// file while it is stopped, and starts again from the checkpoint.
func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stopped  func(t *testing.T, path string, w *os.File)
		want     []string
		rotation string
	}{{
		name: "appended",
		stopped: func(t *testing.T, path string, w *os.File) {
			write(t, w, "a3\n")
		},
		want: []string{"a3"},
	}, {
		name: "renamed and recreated",
		stopped: func(t *testing.T, path string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(path, path+".1"))
			writeFile(t, path, "b1\n")
		},
		want:     []string{"a3", "b1"},
		rotation: "rename",
	}, {
		name: "renamed twice",
		stopped: func(t *testing.T, path string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(path, path+".2"))
			writeFile(t, path, "b1\nb2\n")
			bump(t, path, time.Second) // rotated later than a's file: a newer generation
			require.NoError(t, os.Rename(path, path+".1"))
			writeFile(t, path, "c1\n")
			bump(t, path, 2*time.Second)
		},
		want:     []string{"a3", "b1", "b2", "c1"},
		rotation: "rename",
	}, {
		name: "copied and truncated",
		stopped: func(t *testing.T, path string, w *os.File) {
			write(t, w, "a3\n")
			copyTruncate(t, path, path+".1")
			write(t, w, "b1\n")
		},
		want:     []string{"a3", "b1"},
		rotation: "truncate",
	}, {
		name: "truncated",
		stopped: func(t *testing.T, path string, w *os.File) {
			require.NoError(t, os.Truncate(path, 0))
			write(t, w, "b1\n")
		},
		want:     []string{"b1"},
		rotation: "truncate",
	}, {
		name: "rewritten in place, longer",
		stopped: func(t *testing.T, path string, w *os.File) {
			require.NoError(t, os.WriteFile(path, []byte("b1 is longer\nb2\n"), 0o644))
		},
		want:     []string{"b1 is longer", "b2"},
		rotation: "truncate",
	}, {
		name: "deleted and recreated",
		stopped: func(t *testing.T, path string, w *os.File) {
			require.NoError(t, os.Remove(path))
			writeFile(t, path, "b1\n")
		},
		want: []string{"b1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			w := openAppend(t, path)
			write(t, w, "a1\na2\n")
			h := start(t, testConfig(path), nil)
			h.expect("a1", "a2")
			h.stop()

			tc.stopped(t, path, w)
			c := testConfig(path)
			c.StartAt = "end" // a checkpoint wins over start_at
			h2 := start(t, c, h.cp)
			h2.expect(tc.want...)
			testenv.AppendFile(t, path, "end\n")
			h2.expect("end")
			if tc.rotation != "" {
				require.InDelta(t, 1, testutilCount(h2, tc.rotation), 0)
			}
		})
	}
}

// TestResumeNewFileOnReusedInode hands the source a checkpoint whose device and inode
// are the file's but whose first bytes are not: a new file that got the old inode.
func TestResumeNewFileOnReusedInode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "new file line one\nline two\n")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	cp := sourcestest.NewCheckpoints()
	old := []byte("old file line one\n")
	require.NoError(t, cp.Save(context.Background(), sources.Cursor{Stream: path, Pos: encodePos([]filePos{{
		current: true, id: identityOf(fi), fp: fingerprint{n: len(old), sum: hashBytes(old)}, path: path, off: int64(len(old)),
	}})}))
	h := start(t, testConfig(path), cp)
	h.expect("new file line one", "line two")
}

// TestResumeDuringGrace stops while a renamed file is still drained; the late line
// written to it while stopped is read after the restart, before the new file's.
func TestResumeDuringGrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := openAppend(t, path)
	write(t, w, "a1\n")
	h := start(t, testConfig(path), nil)
	h.expect("a1")
	require.NoError(t, os.Rename(path, path+".20250102-030405"))
	w2 := openAppend(t, path)
	write(t, w2, "b1\n")
	h.expect("b1")
	h.stop()

	write(t, w, "late\n")
	write(t, w2, "b2\n")
	h2 := start(t, testConfig(path), h.cp)
	h2.expect("late", "b2")
}

func TestUnreadableCheckpointStartsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\n")
	cp := sourcestest.NewCheckpoints()
	require.NoError(t, cp.Save(context.Background(), sources.Cursor{Stream: path, Pos: "garbage"}))
	core, logs := observer.New(zap.WarnLevel)
	src, err := New(testConfig(path), sources.Deps{Name: "app", Checkpoints: cp, Log: zap.New(core)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *sources.Batch)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	select {
	case b := <-out:
		require.Equal(t, "a1", b.Lines[0].Text)
	case <-time.After(wait):
		t.Fatal("no line came")
	}
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, logs.FilterMessage("unreadable checkpoint, starting over").Len())
}

func TestPosRoundTrip(t *testing.T) {
	ps := []filePos{
		{id: identity{1, 2}, birth: 1735787045123456789, fp: fingerprint{64, 0xdeadbeef}, at: anchor{100, 64, 0xfeed},
			read: time.UnixMilli(1735787045123), path: "/var/log/a b;c:d.log", off: 10},
		{current: true, id: identity{3, 4}, path: "/x", off: 0},
		{current: true, id: identity{5, 6}, path: "/y", off: 100, done: 250},
	}
	got, err := decodePos(encodePos(ps))
	require.NoError(t, err)
	require.Equal(t, ps, got)

	// A cursor of the previous version reads on, without birth time, anchor or read time.
	got, err = decodePos("f1;d:1:2:64:deadbeef:%2Fvar%2Flog%2Fa.log:10;c:3:4:0:0:%2Fx:100+250")
	require.NoError(t, err)
	require.Equal(t, []filePos{
		{id: identity{1, 2}, fp: fingerprint{64, 0xdeadbeef}, path: "/var/log/a.log", off: 10},
		{current: true, id: identity{3, 4}, path: "/x", off: 100, done: 250},
	}, got)

	for _, bad := range []string{
		"", "f3;c:1:2:0:3:4:0:0:0:0:x:5", "f1;c:1:2", "f2;c:1:2:3:4:x:5",
		"f2;x:1:2:0:3:4:0:0:0:0:p:5", "f2;c:1:2:0:99:4:0:0:0:0:p:5", "f2;c:1:2:0:3:4:0:0:0:0:p:-1",
		"f2;c:1:2:0:3:4:0:0:0:0:p:5+5", "f2;c:1:2:0:3:4:0:0:0:0:p:5+x", "f2;c:1:2:0:3:4:0:0:0:0:p:+5",
		"f2;c:1:2:0:3:4:10:65:0:0:p:5", "f2;c:1:2:0:3:4:10:20:0:0:p:5", "f2;c:1:2:x:3:4:0:0:0:0:p:5",
	} {
		_, err := decodePos(bad)
		require.Error(t, err, bad)
	}
}

func write(t *testing.T, w *os.File, s string) {
	t.Helper()
	_, err := w.WriteString(s)
	require.NoError(t, err)
}

func testutilCount(h *harness, kind string) float64 {
	return testutil.ToFloat64(h.m.Rotations.WithLabelValues("app", kind))
}

// TestRunAgainResumes runs one Source twice, as Supervise does after a failure, with
// no checkpoint store: the second Run goes on where the first left each file, so what
// was written in between is neither skipped (start_at: end) nor sent twice.
func TestRunAgainResumes(t *testing.T) {
	dir := t.TempDir()
	quiet, busy := filepath.Join(dir, "quiet.log"), filepath.Join(dir, "busy.log")
	writeFile(t, quiet, "old, before the start\n")
	writeFile(t, busy, "old too\n")
	c := testConfig(filepath.Join(dir, "*.log"))
	c.StartAt = "end"
	src, err := New(c, sources.Deps{Name: "app", Log: zap.NewNop()})
	require.NoError(t, err)
	scanned := make(chan struct{}, 1)
	src.afterScan = func(context.Context) {
		select {
		case scanned <- struct{}{}:
		default:
		}
	}
	// run runs the source, calls during once it has scanned, and stops it after it
	// sent the lines wanted.
	run := func(during func(), want ...string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan *sources.Batch)
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, out) }()
		var got []string
		deadline := time.After(wait)
		for len(got) < len(want) || during != nil {
			select {
			case <-scanned:
				if during != nil {
					during()
					during = nil
				}
			case b := <-out:
				for _, l := range b.Lines {
					got = append(got, l.Text)
				}
			case err := <-done:
				t.Fatalf("Run ended: %v", err)
			case <-deadline:
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		cancel()
		require.NoError(t, <-done)
		require.ElementsMatch(t, want, got)
	}
	run(func() { testenv.AppendFile(t, busy, "b1\n") }, "b1") // quiet.log sent nothing
	testenv.AppendFile(t, quiet, "q1, written while no Run was going\n")
	testenv.AppendFile(t, busy, "b2\n")
	run(func() {}, "q1, written while no Run was going", "b2")
}

// TestReplayedLinesKeepTheirTime: lines sent before a crash but not checkpointed are
// read again after the restart; a plain line without a stamp of its own takes the
// time it was read, and one read again keeps the time it had the first time, so a
// receiver folds the notification it makes again (docs/webhook.md: last_seen).
func TestReplayedLinesKeepTheirTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\na2\na3\na4\n")
	cp := sourcestest.NewCheckpoints()
	src, err := New(testConfig(path), sources.Deps{Name: "app", Checkpoints: cp, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	first := newClock()
	src.now = first.Now
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *sources.Batch)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	var sent []sources.Line
	for len(sent) < 4 {
		select {
		case b := <-out:
			sent = append(sent, b.Lines...)
		case <-time.After(wait):
			t.Fatal("no line came")
		}
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, cp.Save(context.Background(), sent[1].Cursor)) // a2 was handled, then a crash

	testenv.AppendFile(t, path, "a5\n")
	later := func(s *Source) { s.now = func() time.Time { return first.Now().Add(time.Hour) } }
	h := start(t, testConfig(path), cp, later)
	again := h.expect("a3", "a4", "a5")
	require.Equal(t, sent[2].Time, again[0].Time, "a3 keeps its first time")
	require.Equal(t, sent[3].Time, again[1].Time, "a4 keeps its first time")
	require.Equal(t, first.Now().Add(time.Hour), again[2].Time, "a5 was not read before")
}

package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

func TestWriteAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\na2\r\n")
	h := start(t, testConfig(path), nil)
	lines := h.expect("a1", "a2")
	require.Equal(t, "app", lines[0].Source)
	require.Equal(t, path, lines[0].Stream)
	require.Equal(t, sources.PositionKey("app", path), lines[0].Cursor.Stream)
	require.Nil(t, lines[0].Labels)
	require.Equal(t, h.clock.Now(), lines[0].Time)
	testenv.AppendFile(t, path, "a3\n")
	h.expect("a3")
	h.stop()
	require.InDelta(t, 3, testutil.ToFloat64(h.m.LinesRead.WithLabelValues("app")), 0)
	require.InDelta(t, 10, testutil.ToFloat64(h.m.BytesRead.WithLabelValues("app")), 0)
}

func TestStartAt(t *testing.T) {
	for _, tc := range []struct {
		startAt string
		want    []string
	}{
		{"end", []string{"new"}},
		{"beginning", []string{"old", "new"}},
	} {
		t.Run(tc.startAt, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, "old\n")
			c := testConfig(path)
			c.StartAt = tc.startAt
			h := start(t, c, nil)
			if tc.startAt == "end" {
				h.settle()
			}
			testenv.AppendFile(t, path, "new\n")
			h.expect(tc.want...)
		})
	}
}

func TestFileAppearingLaterIsReadFromItsBeginning(t *testing.T) {
	for _, notify := range []bool{true, false} {
		name := map[bool]string{true: "notify", false: "polling only"}[notify]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "a.log"), "a1\n")
			c := testConfig(filepath.Join(dir, "*.log"))
			c.StartAt = "end"
			h := start(t, c, nil, func(s *Source) {
				if !notify {
					s.notify = nil
				}
			})
			h.settle()
			writeFile(t, filepath.Join(dir, "b.log"), "b1\nb2\n")
			lines := h.expect("b1", "b2")
			require.Equal(t, filepath.Join(dir, "b.log"), lines[0].Stream)
			writeFile(t, filepath.Join(dir, "c.txt"), "not matched\n")
			testenv.AppendFile(t, filepath.Join(dir, "a.log"), "a2\n")
			h.expect("a2")
		})
	}
}

func TestNotificationsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\n")
	core, logs := observer.New(zap.WarnLevel)
	src, err := New(testConfig(path), sources.Deps{Name: "app", Log: zap.New(core)})
	require.NoError(t, err)
	src.notify = func() (*fsnotify.Watcher, error) { return nil, syscall.EMFILE }
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *sources.Batch)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	for _, want := range []string{"a1", "a2"} {
		select {
		case b := <-out:
			require.Equal(t, want, b.Lines[0].Text)
			require.Len(t, b.Lines, 1)
		case <-time.After(wait):
			t.Fatal("no line came")
		}
		if want == "a1" {
			testenv.AppendFile(t, path, "a2\n")
		}
	}
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, logs.FilterMessage("file notifications unavailable, polling every poll_interval").Len())
}

func TestRenameRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	w := openAppend(t, path)
	_, err := w.WriteString("a1\na2\n")
	require.NoError(t, err)
	h := start(t, testConfig(path), nil)
	h.expect("a1") // the source now waits to send a2 and has read no further

	// Written before the rename, unread when the new file appears: the old file is
	// read to its end before the new one.
	_, err = w.WriteString("a3\n")
	require.NoError(t, err)
	require.NoError(t, os.Rename(path, path+".1"))
	w2 := openAppend(t, path)
	_, err = w2.WriteString("b1\n")
	require.NoError(t, err)
	h.expect("a2", "a3", "b1")

	// kubelet writes once more to the renamed file before it reopens.
	_, err = w.WriteString("late\n")
	require.NoError(t, err)
	h.expect("late")
	_, err = w2.WriteString("b2\n")
	require.NoError(t, err)
	h.expect("b2")
	require.InDelta(t, 1, testutil.ToFloat64(h.m.Rotations.WithLabelValues("app", "rename")), 0)

	// After the grace period the renamed file is closed: nothing more is read from it.
	h.clock.Add(DefaultConfig.RotateGrace + 1)
	h.settle()
	_, err = w.WriteString("too late\n")
	require.NoError(t, err)
	_, err = w2.WriteString("b3\n")
	require.NoError(t, err)
	h.expect("b3")
}

func TestCopyTruncateRepeatedly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := openAppend(t, path) // O_APPEND: after the truncate the writer goes on at 0
	_, err := w.WriteString("gen0 line1\n")
	require.NoError(t, err)
	h := start(t, testConfig(path), nil)
	h.expect("gen0 line1")
	for gen := 1; gen <= 3; gen++ {
		prev := "gen" + string(rune('0'+gen-1))
		_, err = w.WriteString(prev + " line2\n" + prev + " line3\n")
		require.NoError(t, err)
		h.expect(prev + " line2") // the source waits to send line3

		// Written after the source's last read, before the copy: only the copy has it.
		_, err = w.WriteString(prev + " line4\n")
		require.NoError(t, err)
		copyTruncate(t, path, filepath.Join(dir, "app.log."+string(rune('0'+gen))))
		cur := "gen" + string(rune('0'+gen))
		_, err = w.WriteString(cur + " line1\n")
		require.NoError(t, err)
		h.expect(prev+" line3", prev+" line4", cur+" line1")
	}
	require.InDelta(t, 3, testutil.ToFloat64(h.m.Rotations.WithLabelValues("app", "truncate")), 0)
}

func TestDeleteAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	w := openAppend(t, path)
	_, err := w.WriteString("a1\n")
	require.NoError(t, err)
	h := start(t, testConfig(path), nil)
	h.expect("a1")
	require.NoError(t, os.Remove(path))
	h.settle()
	_, err = w.WriteString("to the deleted file\n")
	require.NoError(t, err)
	h.expect("to the deleted file")
	writeFile(t, path, "b1\n")
	h.expect("b1")
	require.InDelta(t, 1, testutil.ToFloat64(h.m.Rotations.WithLabelValues("app", "delete")), 0)
}

func TestRewrittenInPlaceIsANewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\na2\n")
	h := start(t, testConfig(path), nil)
	h.expect("a1")
	// Same inode, other content, longer than what was read: only the first bytes tell.
	require.NoError(t, os.WriteFile(path, []byte("another file, line one\nline two\n"), 0o644))
	h.expect("a2", "another file, line one", "line two")
}

func TestSymlinkRetarget(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current.log")
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	wa := openAppend(t, a)
	_, err := wa.WriteString("a1\n")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(a, link))
	h := start(t, testConfig(link), nil)
	lines := h.expect("a1")
	require.Equal(t, link, lines[0].Stream)

	writeFile(t, b, "b1\n")
	tmp := filepath.Join(dir, "next.lnk")
	require.NoError(t, os.Symlink(b, tmp))
	require.NoError(t, os.Rename(tmp, link)) // retarget atomically
	lines = h.expect("b1")
	require.Equal(t, link, lines[0].Stream)
	_, err = wa.WriteString("late a\n")
	require.NoError(t, err)
	h.expect("late a")
	testenv.AppendFile(t, b, "b2\n")
	h.expect("b2")
}

func TestPartialLineWaitsForFlushTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "whole\npart")
	c := testConfig(path)
	c.FlushTimeout = 50 * time.Millisecond
	h := start(t, c, nil)
	h.expect("whole")
	h.settle() // read, held: nothing is sent
	h.clock.Add(c.FlushTimeout)
	lines := h.expect("part")
	testenv.AppendFile(t, path, " of it\nnext\n")
	h.expect(" of it", "next")

	// Restarting at the flushed line's cursor does not send it again.
	h.stop()
	h2 := start(t, c, h.cp)
	testenv.AppendFile(t, path, "after restart\n")
	h2.expect("after restart")
	require.NotEmpty(t, lines[0].Cursor.Position())
}

func TestLongLineIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	long := strings.Repeat("x", 300)
	writeFile(t, path, long+"\nshort\n"+strings.Repeat("y", 200000)+"\nend\n")
	c := testConfig(path)
	c.MaxLineBytes = 100
	h := start(t, c, nil)
	h.expect(long[:100]+cutMark, "short", strings.Repeat("y", 100)+cutMark, "end")
	require.InDelta(t, 2, testutil.ToFloat64(h.m.LinesCut.WithLabelValues("app")), 0)
}

// TestResumeAfterEachLine: the cursor each line carries resumes right after that
// line, short and long lines alike (lines of one read share their cursor's Pos).
func TestResumeAfterEachLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	want := []string{"short", strings.Repeat("a", 1023), strings.Repeat("b", 1024),
		strings.Repeat("c", 1025), strings.Repeat("d", 5000), "é", "end"}
	writeFile(t, path, strings.Join(want, "\n")+"\n")
	c := testConfig(path)
	lines := start(t, c, nil).expect(want...)
	for i, l := range lines[:len(lines)-1] {
		cp := sourcestest.NewCheckpoints()
		require.NoError(t, cp.Save(context.Background(), l.Cursor))
		h := start(t, c, cp)
		h.expect(want[i+1])
		h.stop()
	}
}

func TestInvalidUTF8IsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "ok \xff\xfe bad\r\nfine ü\n")
	h := start(t, testConfig(path), nil)
	lines := h.expect("ok \uFFFD bad", "fine ü")
	require.True(t, utf8.ValidString(lines[0].Text))
}

func TestTwoPathsOneFileReadOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a1\n")
	require.NoError(t, os.Symlink(path, filepath.Join(dir, "link.log")))
	h := start(t, testConfig(filepath.Join(dir, "*.log")), nil)
	lines := h.expect("a1")
	h.settle()
	testenv.AppendFile(t, path, "a2\n")
	h.expect("a2")
	require.Equal(t, path, lines[0].Stream)
}

// TestPlainStamps checks which plain lines run on their own time: a stamp that names
// its zone always, one that does not only with time_zone, and none that lies ahead
// of its read time by more than maxAhead.
func TestPlainStamps(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	read := newClock().Now() // 2025-01-02 03:04:05 UTC
	pg := "2025-01-02 02:59:00.250 UTC [812] LOG:  server process (PID 901) was terminated by signal 9: Killed"
	rfc := "2025-01-02T04:00:00+02:00 app: fork: Cannot allocate memory"
	redis := "1:M 01 Jan 2025 22:00:00.500 # Can't save in background: fork: Cannot allocate memory"
	ahead := "1:M 02 Jan 2025 03:06:00.000 # stamped two minutes after it was read"
	cases := []struct {
		name, zone string
		want       []time.Time
	}{
		{"no time_zone", "", []time.Time{
			time.Date(2025, 1, 2, 2, 59, 0, 250e6, time.UTC), time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC), read, read,
		}},
		{"time_zone America/New_York", "America/New_York", []time.Time{
			time.Date(2025, 1, 2, 2, 59, 0, 250e6, time.UTC), time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC),
			time.Date(2025, 1, 1, 22, 0, 0, 500e6, newYork), // 03:00:00.5 UTC
			read, // 03:06 in New York is hours after its read time: distrusted
		}},
		{"time_zone UTC", "UTC", []time.Time{
			time.Date(2025, 1, 2, 2, 59, 0, 250e6, time.UTC), time.Date(2025, 1, 2, 2, 0, 0, 0, time.UTC),
			time.Date(2025, 1, 1, 22, 0, 0, 500e6, time.UTC),
			read, // two minutes ahead: distrusted
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, pg+"\n"+rfc+"\n"+redis+"\n"+ahead+"\n")
			c := testConfig(path)
			c.TimeZone = tc.zone
			h := start(t, c, nil)
			lines := h.expect(pg, rfc, redis, ahead)
			for i, l := range lines {
				require.True(t, tc.want[i].Equal(l.Time), "line %d: got %v, want %v", i, l.Time, tc.want[i])
			}
		})
	}
}

// TestGlobExcludes: a dir/* glob does not follow compressed generations as text; an
// exclude setting names what else to leave alone.
func TestGlobExcludes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app.log"), "a1\n")
	writeFile(t, filepath.Join(dir, "skip.me"), "not this\n")
	_, old := numberedLines("an old line", 0, 500)
	writeFile(t, filepath.Join(dir, "old.log"), old)
	testenv.GzipFile(t, filepath.Join(dir, "old.log")) // binary: followed as text it is garbage
	c := testConfig(filepath.Join(dir, "*"))
	c.Exclude = append([]string{"*.me"}, DefaultExclude...)
	h := start(t, c, nil)
	h.expect("a1")
	h.clock.Add(time.Minute) // a partial last line would be flushed
	h.settle()

	c.Exclude = nil // the default
	h2 := start(t, c, nil)
	got := []string{h2.next().Text, h2.next().Text}
	require.ElementsMatch(t, []string{"a1", "not this"}, got)
	h2.clock.Add(time.Minute)
	h2.settle()
}

// TestOpenedAfterFirstScan: the source says it has opened its files once its first
// scan has found and positioned them, and only then: the service is not ready before.
func TestOpenedAfterFirstScan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	require.NoError(t, os.WriteFile(path, []byte("one\n"), 0o600))
	opened := make(chan struct{})
	src, err := New(testConfig(filepath.Join(dir, "*.log")), sources.Deps{Name: "app", Log: zaptest.NewLogger(t), Opened: func() { close(opened) }})
	require.NoError(t, err)
	var _ sources.Opener = src
	select {
	case <-opened:
		t.Fatal("opened before it ran")
	default:
	}
	out := make(chan *sources.Batch, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("never said it opened")
	}
	select {
	case b := <-out:
		require.Equal(t, "one", b.Lines[0].Text)
	case <-time.After(10 * time.Second):
		t.Fatal("no line")
	}
	cancel()
	require.NoError(t, <-done)
}

// TestReadGoesOverInOneBatch: the lines of one read are handed over together, in
// order, their texts carved out of one string (one allocation a read, not one a
// line), and a line appended alone arrives alone, without waiting for more.
func TestReadGoesOverInOneBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a1\na2\na3\n")
	h := start(t, testConfig(path), nil)
	var texts []string
	select {
	case b := <-h.out:
		for i, l := range b.Lines {
			texts = append(texts, l.Text)
			if i > 0 {
				prev := b.Lines[i-1].Text
				require.Equal(t, unsafe.Add(unsafe.Pointer(unsafe.StringData(prev)), len(prev)+1), //nolint:gosec // a test comparing addresses
					unsafe.Pointer(unsafe.StringData(l.Text)), "line %d follows line %d in one string", i, i-1)
			}
		}
	case <-time.After(wait):
		t.Fatal("no batch came")
	}
	require.Equal(t, []string{"a1", "a2", "a3"}, texts)
	testenv.AppendFile(t, path, "a4\n")
	h.expect("a4")
	require.Empty(t, h.pending, "a4 came alone")
}

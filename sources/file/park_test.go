package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// openUnder counts the descriptors this process holds on files under dir.
func openUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, dir+"/") {
			n++
		}
	}
	return n
}

// eventsOnly makes a config that scans fully only once an hour: what is read comes
// through inotify's events, or through polling when there are none.
func eventsOnly(paths ...string) Config {
	c := testConfig(paths...)
	c.RescanInterval = time.Hour
	return c
}

// TestOpenFilesBounded: a glob matching many more files than max_open_files holds at
// most that many open; every file still has each line written to it read, also when
// it was rotated or truncated while closed. Both with inotify's events alone (no full
// scan) and polling.
func TestOpenFilesBounded(t *testing.T) {
	for _, mode := range []string{"events", "polling"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			const files, max = 24, 4
			for i := range files {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), "")
			}
			c := eventsOnly(filepath.Join(dir, "*.log"))
			c.MaxOpenFiles = max
			var opts []func(*Source)
			if mode == "polling" {
				opts = append(opts, func(s *Source) { s.notify = nil })
			}
			h := start(t, c, nil, opts...)
			h.expectNone() // started
			require.LessOrEqual(t, openUnder(t, dir), max)

			for round := range 2 {
				for i := range files {
					testAppend(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), fmt.Sprintf("r%d f%02d\n", round, i))
					h.expect(fmt.Sprintf("r%d f%02d", round, i))
					require.LessOrEqual(t, openUnder(t, dir), max)
				}
			}
			// Lines written to every file at once.
			for i := range files {
				testAppend(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), fmt.Sprintf("burst f%02d\n", i))
			}
			var got []string
			for range files {
				got = append(got, h.next().Text)
			}
			var want []string
			for i := range files {
				want = append(want, fmt.Sprintf("burst f%02d", i))
			}
			require.ElementsMatch(t, want, got)

			// A closed file is written and rotated away, and a new one created: its
			// last lines and the new file's are read. Another is truncated and
			// written again: read from its beginning.
			old := filepath.Join(dir, "f03.log")
			testAppend(t, old, "last of old\n")
			require.NoError(t, os.Rename(old, filepath.Join(dir, "f03.log.1")))
			writeFile(t, old, "first of new\n")
			h.expect("last of old", "first of new")
			require.NoError(t, os.Truncate(filepath.Join(dir, "f05.log"), 0))
			testAppend(t, filepath.Join(dir, "f05.log"), "after truncation\n")
			h.expect("after truncation")
			require.LessOrEqual(t, openUnder(t, dir), max+2) // a rotated file drains
		})
	}
}

// expectNone waits until the source has started and fails on any line meanwhile.
func (h *harness) expectNone() {
	h.t.Helper()
	if len(h.pending) > 0 {
		h.t.Fatalf("unexpected line %q", h.pending[0].Text)
	}
	select {
	case b := <-h.out:
		h.t.Fatalf("unexpected line %q", b.Lines[0].Text)
	case <-h.scans:
	case <-time.After(wait):
		h.t.Fatal("no scan came")
	}
}

// TestEventsFollow: with full scans an hour apart, inotify's events alone find new
// files, appends, rotations by rename and by copytruncate, deletion and a link
// retargeted.
func TestEventsFollow(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	writeFile(t, a, "a1\n")
	h := start(t, eventsOnly(filepath.Join(dir, "*.log")), nil)
	h.expect("a1")

	testAppend(t, a, "a2\n")
	h.expect("a2")
	writeFile(t, filepath.Join(dir, "b.log"), "b1\n") // a new file: read from its beginning
	h.expect("b1")

	w := openAppend(t, a)
	require.NoError(t, os.Rename(a, a+".1"))
	write(t, w, "late a\n")
	h.expect("late a")
	writeFile(t, a, "new a\n")
	h.expect("new a")

	copyTruncate(t, filepath.Join(dir, "b.log"), filepath.Join(dir, "b.log.1"))
	testAppend(t, filepath.Join(dir, "b.log"), "b after truncate\n")
	h.expect("b after truncate")

	// A subdirectory pattern: a directory created later, and a file in it.
	h.stop()
	c := eventsOnly(filepath.Join(dir, "*", "*.log"))
	h = start(t, c, nil)
	h.expectNone()
	writeFile(t, filepath.Join(dir, "pod1", "0.log"), "pod1 line\n")
	h.expect("pod1 line")
	testAppend(t, filepath.Join(dir, "pod1", "0.log"), "pod1 more\n")
	h.expect("pod1 more")
}

// TestEventsWatchedOnly: with inotify, nothing is polled between full scans: a
// write that no event reports is seen at the next full scan, not before.
func TestEventsWatchedOnly(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	writeFile(t, a, "")
	var w *fsnotify.Watcher
	c := eventsOnly(a)
	h := start(t, c, nil, func(s *Source) {
		s.notify = func() (*fsnotify.Watcher, error) {
			var err error
			w, err = fsnotify.NewWatcher()
			return w, err
		}
	})
	h.expectNone()
	require.NotNil(t, w)
	testAppend(t, a, "a1\n")
	h.expect("a1")
}

// TestEventsTimers: between full scans, a partial last line is still sent after
// flush_timeout, and a rotated file drained for rotate_grace.
func TestEventsTimers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	h := start(t, eventsOnly(path), nil)
	h.expectNone()
	partialLineThenRotation(t, h, path, "", nil)
}

// TestQuietThenTimers: an idle source's ticker sleeps until the next full scan; what
// is written then still gets its timers: a partial line is flushed after flush_timeout,
// and a rotated file's late lines are read within rotate_grace.
func TestQuietThenTimers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "first\n")
	quiet := make(chan bool, 16)
	h := start(t, eventsOnly(path), nil, func(s *Source) { s.quietHook = func(q bool) { quiet <- q } })
	drained := make(chan struct{})
	t.Cleanup(func() { close(drained) })
	go func() { // full scans, whenever they come
		for {
			select {
			case <-h.scans:
			case <-drained:
				return
			}
		}
	}()
	h.expect("first")
	waitQuiet := func() {
		t.Helper()
		for {
			select {
			case q := <-quiet:
				if q {
					return
				}
			case <-time.After(wait):
				t.Fatal("the source never went quiet")
			}
		}
	}
	waitQuiet()
	partialLineThenRotation(t, h, path, "first\n", waitQuiet)
}

// partialLineThenRotation appends a line without its newline to path, whose text so
// far (all of it read) is before, and checks that it is flushed after flush_timeout;
// then, after between (when not nil), it rotates path by rename and checks that the
// new file and a late line of the rotated one (within rotate_grace) are read.
func partialLineThenRotation(t *testing.T, h *harness, path, before string, between func()) {
	t.Helper()
	testAppend(t, path, "no newline yet")
	require.Eventually(t, func() bool { // read, and held for the flush timeout
		return testutil.ToFloat64(h.m.BytesRead.WithLabelValues("app")) == float64(len(before+"no newline yet"))
	}, wait, time.Millisecond)
	h.clock.Add(DefaultConfig.FlushTimeout + time.Second)
	h.expect("no newline yet")

	if between != nil {
		between()
	}
	w := openAppend(t, path)
	require.NoError(t, os.Rename(path, path+".1"))
	writeFile(t, path, "new file\n")
	h.expect("new file")
	write(t, w, "late\n") // within rotate_grace: read
	h.expect("late")
}

// TestCopyTruncateThenAppend: copytruncate right after a short file's line was read,
// and the writer's next line at once. A reader that looked between the truncation
// and the append, saw nothing at its offset and then a size past it, took its
// fingerprint over the new content and read on from its old offset: the new line
// lost its first bytes ("er truncate" for "after truncate"). The fingerprint covers
// only what was read, so the next read sees the file begin otherwise.
func TestCopyTruncateThenAppend(t *testing.T) {
	dir := t.TempDir()
	h := start(t, eventsOnly(filepath.Join(dir, "*.log")), nil)
	for i := range 300 {
		b := filepath.Join(dir, fmt.Sprintf("b%d.log", i))
		writeFile(t, b, fmt.Sprintf("b%d\n", i%10))
		h.expect(fmt.Sprintf("b%d", i%10))
		copyTruncate(t, b, b+".1")
		testAppend(t, b, fmt.Sprintf("after truncate %d\n", i))
		h.expect(fmt.Sprintf("after truncate %d", i))
	}
}

// TestParkedRestart: files closed while idle, then cowbell stopped; while it is
// down some are rotated, some written, some truncated; after the restart every line
// written is read once, with the cap held.
func TestParkedRestart(t *testing.T) {
	dir := t.TempDir()
	const files, max = 12, 4
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("f%02d.log", i)) }
	for i := range files {
		writeFile(t, name(i), fmt.Sprintf("first f%02d\n", i))
	}
	c := eventsOnly(filepath.Join(dir, "*.log"))
	c.MaxOpenFiles = max
	h := start(t, c, nil)
	var got []string
	for range files {
		got = append(got, h.next().Text)
	}
	require.Len(t, got, files)
	require.LessOrEqual(t, openUnder(t, dir), max)
	h.stop()

	var want []string
	for i := range files {
		switch i % 3 {
		case 0: // written, then rotated away, and a new file
			testAppend(t, name(i), fmt.Sprintf("old f%02d\n", i))
			require.NoError(t, os.Rename(name(i), name(i)+".1"))
			writeFile(t, name(i), fmt.Sprintf("new f%02d\n", i))
			want = append(want, fmt.Sprintf("old f%02d", i), fmt.Sprintf("new f%02d", i))
		case 1: // written
			testAppend(t, name(i), fmt.Sprintf("more f%02d\n", i))
			want = append(want, fmt.Sprintf("more f%02d", i))
		case 2: // truncated and written again
			require.NoError(t, os.Truncate(name(i), 0))
			testAppend(t, name(i), fmt.Sprintf("again f%02d\n", i))
			want = append(want, fmt.Sprintf("again f%02d", i))
		}
	}
	h = start(t, c, h.cp, func(s *Source) { s.notify = nil }) // polling: settle sees every scan
	got = nil
	for range want {
		got = append(got, h.next().Text)
	}
	require.ElementsMatch(t, want, got)
	h.settle()
	require.LessOrEqual(t, openUnder(t, dir), max+files/3) // the rotated files drain
}

package file

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// troubles records what a source says it cannot read.
type troubles struct {
	mu    sync.Mutex
	notes []string
}

func (tr *troubles) last() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.notes) == 0 {
		return ""
	}
	return tr.notes[len(tr.notes)-1]
}

// watchRefusals hands the source an observed log of warnings and a note recorder.
func watchRefusals(logs **observer.ObservedLogs, tr *troubles) func(*Source) {
	return func(s *Source) {
		core, l := observer.New(zap.WarnLevel)
		*logs = l
		s.log = zap.New(core)
		s.trouble = func(note string) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.notes = append(tr.notes, note)
		}
	}
}

// warnings counts the warnings about path.
func warnings(logs *observer.ObservedLogs, path string) int {
	return logs.FilterMessage("file not read").FilterField(zap.String("file", path)).Len()
}

// TestFIFOInGlob: a FIFO among the files a glob matches is refused without opening
// it (an open waits for a writer): the other files are read, it is warned about once
// and counted, and the source stops when told.
func TestFIFOInGlob(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "a1\n")
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "b.log"), 0o600))
	writeFile(t, filepath.Join(dir, "c.log"), "c1\n")
	var logs *observer.ObservedLogs
	var tr troubles
	h := start(t, testConfig(filepath.Join(dir, "*.log")), nil, watchRefusals(&logs, &tr))
	got := []string{h.next().Text, h.next().Text}
	require.ElementsMatch(t, []string{"a1", "c1"}, got)
	h.settle()
	h.settle()
	require.Equal(t, 1, warnings(logs, filepath.Join(dir, "b.log")), "warned once")
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefused.WithLabelValues("app", refusedNotRegular)))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedNotRegular)))
	require.Equal(t, "1 file not regular (a FIFO, a device)", tr.last())
	testAppend(t, filepath.Join(dir, "c.log"), "c2\n")
	h.expect("c2")

	// Gone, it is forgotten.
	require.NoError(t, os.Remove(filepath.Join(dir, "b.log")))
	h.settle()
	require.Empty(t, tr.last())
	require.Equal(t, 0.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedNotRegular)))
	h.stop() // returns: nothing blocks
}

// TestUnreadableFile: a file the source may not open (EACCES) is warned about once,
// counted and noted in the source's status; once it may, it is read.
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "b.log")
	writeFile(t, filepath.Join(dir, "a.log"), "a1\n")
	writeFile(t, secret, "b1\n")
	var logs *observer.ObservedLogs
	var tr troubles
	var mu sync.Mutex
	denied := true
	deny := func(s *Source) {
		s.guard.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			mu.Lock()
			defer mu.Unlock()
			if denied && name == secret {
				return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EACCES}
			}
			return os.OpenFile(name, flag, perm)
		}
	}
	h := start(t, testConfig(filepath.Join(dir, "*.log")), nil, watchRefusals(&logs, &tr), deny)
	h.expect("a1")
	h.settle()
	h.settle()
	require.Equal(t, 1, warnings(logs, secret), "warned once")
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefused.WithLabelValues("app", refusedUnreadable)))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedUnreadable)))
	require.Equal(t, "1 file unreadable", tr.last())

	mu.Lock()
	denied = false
	mu.Unlock()
	h.expect("b1")
	require.Equal(t, 0.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedUnreadable)))
	require.Empty(t, tr.last())
}

// TestLoopingLinkUnreadable: a link that loops is a file that cannot be opened, with
// no permission involved: warned about and counted as unreadable.
func TestLoopingLinkUnreadable(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.log")
	require.NoError(t, os.Symlink(loop, loop))
	writeFile(t, filepath.Join(dir, "a.log"), "a1\n")
	var logs *observer.ObservedLogs
	var tr troubles
	h := start(t, testConfig(filepath.Join(dir, "*.log")), nil, watchRefusals(&logs, &tr))
	h.expect("a1")
	h.settle()
	require.Equal(t, 1, warnings(logs, loop))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedUnreadable)))
}

// TestSymlinkOutside: a link among the files that leads out of the directories the
// source names is not read (x.log -> /etc/shadow), warned about and counted; one
// into a follow_roots directory is read.
func TestSymlinkOutside(t *testing.T) {
	root := t.TempDir()
	logs, elsewhere, allowed := filepath.Join(root, "logs"), filepath.Join(root, "etc"), filepath.Join(root, "pods")
	writeFile(t, filepath.Join(elsewhere, "shadow"), "root:secret-hash\n")
	writeFile(t, filepath.Join(allowed, "p", "0.log"), "pod line\n")
	writeFile(t, filepath.Join(logs, "a.log"), "a1\n")
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "shadow"), filepath.Join(logs, "x.log")))
	require.NoError(t, os.Symlink(filepath.Join(allowed, "p", "0.log"), filepath.Join(logs, "y.log")))
	// A link within the directory the source names is followed.
	require.NoError(t, os.Symlink("a.log", filepath.Join(logs, "z.log")))

	c := testConfig(filepath.Join(logs, "*.log"))
	c.FollowRoots = []string{allowed}
	var ol *observer.ObservedLogs
	var tr troubles
	h := start(t, c, nil, watchRefusals(&ol, &tr))
	got := []string{h.next().Text, h.next().Text}
	require.ElementsMatch(t, []string{"a1", "pod line"}, got)
	h.settle()
	h.settle()
	require.Equal(t, 1, warnings(ol, filepath.Join(logs, "x.log")))
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefused.WithLabelValues("app", refusedOutside)))
	require.Equal(t, "1 file linked outside the source's directories", tr.last())

	// A link retargeted out of them while followed: the file it led to is drained,
	// the new target is not read.
	testAppend(t, filepath.Join(allowed, "p", "0.log"), "pod line 2\n")
	h.expect("pod line 2")
	tmp := filepath.Join(logs, "y.tmp")
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "shadow"), tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(logs, "y.log")))
	testAppend(t, filepath.Join(elsewhere, "shadow"), "more secret\n")
	h.settle()
	h.settle()
	require.Equal(t, 1, warnings(ol, filepath.Join(logs, "y.log")))
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.FilesRefusedNow.WithLabelValues("app", refusedOutside)))
}

// TestRotatedLinkOutside: a rotated generation beside a followed file that is a link
// out of the source's directories is not read after a restart either.
func TestRotatedLinkOutside(t *testing.T) {
	root := t.TempDir()
	logs, elsewhere := filepath.Join(root, "logs"), filepath.Join(root, "etc")
	writeFile(t, filepath.Join(elsewhere, "shadow"), "root:secret-hash\n")
	path := filepath.Join(logs, "app.log")
	writeFile(t, path, "a1\n")
	var ol *observer.ObservedLogs
	var tr troubles
	h := start(t, testConfig(path), nil, watchRefusals(&ol, &tr))
	h.expect("a1")
	h.stop()

	// While stopped: app.log is rotated away, and app.log.1 is a link to a secret.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "shadow"), path+".1"))
	writeFile(t, path, "a2\n")
	h = start(t, testConfig(path), h.cp, watchRefusals(&ol, &tr))
	h.expect("a2")
	h.settle()
	require.Equal(t, 1.0, testutil.ToFloat64(h.m.FilesRefused.WithLabelValues("app", refusedOutside)))
}

func testAppend(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// created makes a new file at path, as a program reopening its log does.
func created(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// later moves a file's modification time forward, as writing it later would: the
// rotations below happen within one test, faster than a clock tick matters.
func later(t *testing.T, path string, n int) {
	t.Helper()
	bump(t, path, time.Duration(n)*time.Second)
}

// TestRotationsWhileStopped: cowbell stops after sending a1 and a2, the log is
// rotated while it is down, and after the restart every line written after a2 that
// still exists somewhere on disk arrives once, in order: whatever sequence of rename,
// create, copytruncate, compress and delete happened.
func TestRotationsWhileStopped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopped func(t *testing.T, p string, w *os.File)
		want    []string
	}{{
		name: "copytruncate then create",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			copyTruncate(t, p, p+".1")
			write(t, w, "b1\n") // the writer goes on in the truncated file
			later(t, p, 1)
			require.NoError(t, os.Rename(p+".1", p+".2"))
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "c1\n")
			later(t, p, 2)
		},
		want: []string{"a3", "b1", "c1"},
	}, {
		name: "copytruncate twice",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			copyTruncate(t, p, p+".1")
			write(t, w, "b1\nb2\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p+".1", p+".2"))
			copyTruncate(t, p, p+".1")
			later(t, p+".1", 1)
			write(t, w, "c1\n")
			later(t, p, 2)
		},
		want: []string{"a3", "b1", "b2", "c1"},
	}, {
		name: "kubelet renames twice and compresses the older",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(p, p+".20250102-030405"))
			created(t, p, "b1\nb2\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p, p+".20250102-030406"))
			created(t, p, "c1\n")
			later(t, p, 2)
			testenv.GzipFile(t, p+".20250102-030405") // newer than every plain file now
			later(t, p+".20250102-030405.gz", 3)
		},
		want: []string{"a3", "b1", "b2", "c1"},
	}, {
		name: "kubelet renames twice",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(p, p+".20250102-030405"))
			created(t, p, "b1\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p, p+".20250102-030406"))
			created(t, p, "c1\n")
			later(t, p, 2)
		},
		want: []string{"a3", "b1", "c1"},
	}, {
		name: "logrotate rotate 1, twice",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n") // its file is deleted by the second rotation: lost
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "b1\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "c1\n")
			later(t, p, 2)
		},
		want: []string{"b1", "c1"},
	}, {
		name: "renamed and compressed",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "b1\n")
			later(t, p, 1)
			testenv.GzipFile(t, p+".1")
			later(t, p+".1.gz", 2)
		},
		want: []string{"a3", "b1"},
	}, {
		name: "logrotate delaycompress, twice",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "b1\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p+".1", p+".2"))
			testenv.GzipFile(t, p+".2")
			later(t, p+".2.gz", 3)
			require.NoError(t, os.Rename(p, p+".1"))
			created(t, p, "c1\n")
			later(t, p, 2)
		},
		want: []string{"a3", "b1", "c1"},
	}, {
		name: "docker json-file rotates twice with compress",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			require.NoError(t, os.Rename(p, p+".1"))
			testenv.GzipFile(t, p+".1")
			created(t, p, "b1\n")
			later(t, p, 1)
			require.NoError(t, os.Rename(p+".1.gz", p+".2.gz"))
			require.NoError(t, os.Rename(p, p+".1"))
			testenv.GzipFile(t, p+".1")
			later(t, p+".1.gz", 2)
			created(t, p, "c1\n")
			later(t, p, 3)
		},
		want: []string{"a3", "b1", "c1"},
	}, {
		name: "copytruncate, copy compressed",
		stopped: func(t *testing.T, p string, w *os.File) {
			write(t, w, "a3\n")
			copyTruncate(t, p, p+".1")
			testenv.GzipFile(t, p+".1")
			write(t, w, "b1\n")
		},
		want: []string{"a3", "b1"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "app.log")
			w := openAppend(t, p)
			write(t, w, "a1\na2\n")
			h := start(t, testConfig(p), nil)
			h.expect("a1", "a2")
			h.stop()

			tc.stopped(t, p, w)
			c := testConfig(p)
			c.StartAt = "end" // a checkpoint wins over start_at
			h2 := start(t, c, h.cp)
			h2.expect(tc.want...)
			h2.settle()
			testenv.AppendFile(t, p, "end\n")
			h2.expect("end")
		})
	}
}

// TestInodeReusedWithSameBanner: while cowbell is stopped the log is deleted and a new
// one created that gets the old file's inode and begins with the same banner line, and
// is longer than the old one was read: it is read from its beginning, not from the
// old file's offset.
func TestInodeReusedWithSameBanner(t *testing.T) {
	dir := testenv.PrivateFilesystem(t) // the freed inode is not taken by another test
	p := filepath.Join(dir, "app.log")
	const banner = "=== app 1.2.3 starting, logging to app.log (this line is always the same) ===\n"
	writeFile(t, p, banner+"old 1\nold 2\nold 3\n")
	ino := inodeOf(t, p)
	h := start(t, testConfig(p), nil)
	h.expect(strings.TrimSuffix(banner, "\n"), "old 1", "old 2", "old 3")
	h.stop()

	require.NoError(t, os.Remove(p))
	reuseInode(t, p, ino, banner+"new 1\nnew 2\nnew 3\nnew 4\nnew 5\n")
	h2 := start(t, testConfig(p), h.cp)
	h2.expect(strings.TrimSuffix(banner, "\n"), "new 1", "new 2", "new 3", "new 4", "new 5")
	h2.settle()
}

// TestInodeReusedWhileRunning: a generation rotated past while the reader was held
// up is read, though its inode is that of a file read (and deleted) earlier.
func TestInodeReusedWhileRunning(t *testing.T) {
	dir := testenv.PrivateFilesystem(t) // the freed inode is not taken by another test
	p := filepath.Join(dir, "app.log")
	writeFile(t, p, "a1\n")
	ino := inodeOf(t, p)
	h := start(t, testConfig(p), nil)
	h.expect("a1")
	require.NoError(t, os.Rename(p, p+".1"))
	w := openAppend(t, p)
	write(t, w, "b1\n")
	h.expect("b1")
	h.clock.Add(time.Minute) // past the rotated file's grace: it is closed
	h.settle()
	require.NoError(t, os.Remove(p+".1"))

	// The reader holds b2 for a receiver that does not take it: two rotations pass
	// meanwhile, and the middle file gets a1's inode.
	write(t, w, "b2\n")
	h.readBlocked(3)
	require.NoError(t, os.Rename(p, p+".1"))
	reuseInode(t, p, ino, "c1\n")
	later(t, p, 1)
	require.NoError(t, os.Rename(p+".1", p+".2"))
	require.NoError(t, os.Rename(p, p+".1"))
	created(t, p, "d1\n")
	later(t, p, 2)
	h.expect("b2", "c1", "d1")
	h.settle()
}

// inodeOf returns the inode of path.
func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return identityOf(fi).ino
}

// reuseInode creates path with content on inode ino, freed before: filesystems such
// as ext4 hand a freed inode to one of the next files created in its directory (on a
// filesystem of the test's own: testenv.PrivateFilesystem).
func reuseInode(t *testing.T, path string, ino uint64, content string) {
	t.Helper()
	dir := filepath.Dir(path)
	for i := range 2000 {
		tmp := filepath.Join(dir, "reuse-"+strings.Repeat("x", i%7)+string(rune('a'+i%26)))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		require.NoError(t, err)
		if identityOf(fi).ino == ino {
			_, err = f.WriteString(content)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.NoError(t, os.Rename(tmp, path))
			return
		}
		require.NoError(t, f.Close())
		t.Cleanup(func() { os.Remove(tmp) })
	}
	testenv.Missing(t, "a filesystem that hands freed inodes to new files (ext4, xfs) under %s", dir)
}

// TestKubeletRotationsWhileStoppedThroughSymlink: the followed path is kubelet's
// /var/log/containers symlink; while cowbell is stopped the file it leads to is
// rotated twice and the older generation gzipped beside the target, and the pod's
// lines are all read after the restart, as the symlink's stream.
func TestKubeletRotationsWhileStoppedThroughSymlink(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "pods", "default_redis-0_0f1e2d3c-aaaa-bbbb-cccc-0123456789ab", "redis", "0.log")
	link := filepath.Join(root, "containers", "redis-0_default_redis-"+containerID+".log")
	cri := func(msg string) string { return "2025-01-02T03:04:05Z stdout F " + msg + "\n" }
	w := openAppend(t, mkdirFor(t, target))
	write(t, w, cri("a1"))
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(target, link))
	h := start(t, kubeletConfig(root), nil)
	h.expect("a1")
	h.stop()

	write(t, w, cri("a2"))
	require.NoError(t, os.Rename(target, target+".20250102-030405"))
	created(t, target, cri("b1"))
	later(t, target, 1)
	require.NoError(t, os.Rename(target, target+".20250102-030406"))
	created(t, target, cri("c1"))
	later(t, target, 2)
	testenv.GzipFile(t, target+".20250102-030405")

	h2 := start(t, kubeletConfig(root), h.cp)
	lines := h2.expect("a2", "b1", "c1")
	for _, l := range lines {
		require.Equal(t, link, l.Stream)
		require.Equal(t, "redis-0", l.Labels["pod"])
	}
	h2.settle()
}

// TestGlobMatchingRotatedNamesAcrossRestart: a dir/* glob also matches the rotated
// names, each a stream of its own, keyed by its name. After a rotation while stopped
// every line written meanwhile arrives once, whichever stream reads it. (A rotated
// file now under a name that had no stream is read again from its beginning: its
// lines were read under another name; docs/config.md advises a glob such as *.log.)
func TestGlobMatchingRotatedNamesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.log")
	writeFile(t, p+".1", "o1\n")
	later(t, p+".1", -10)
	w := openAppend(t, p)
	write(t, w, "a1\na2\n")
	h := start(t, testConfig(filepath.Join(dir, "*")), nil)
	first := []string{h.next().Text, h.next().Text, h.next().Text}
	require.ElementsMatch(t, []string{"o1", "a1", "a2"}, first)
	h.settle()
	h.stop()

	write(t, w, "a3\n")
	require.NoError(t, os.Rename(p+".1", p+".2"))
	require.NoError(t, os.Rename(p, p+".1"))
	created(t, p, "b1\n")
	later(t, p, 1)
	h2 := start(t, testConfig(filepath.Join(dir, "*")), h.cp)
	got := map[string]int{}
	for range 3 {
		got[h2.next().Text]++
	}
	h2.settle()
	require.Equal(t, map[string]int{"a3": 1, "b1": 1, "o1": 1}, got)
}

// kubeletConfig follows kubelet's /var/log/containers links under root into its pods.
func kubeletConfig(root string) Config {
	c := testConfig(filepath.Join(root, "containers", "*.log"))
	c.FollowRoots = []string{filepath.Join(root, "pods")}
	return c
}

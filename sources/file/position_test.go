package file

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources/sourcestest"
)

// numberedLines returns "<prefix> <i>" for i in [from, to), and the same as file text.
func numberedLines(prefix string, from, to int) ([]string, string) {
	var lines []string
	for i := from; i < to; i++ {
		lines = append(lines, fmt.Sprintf("%s %d", prefix, i))
	}
	return lines, strings.Join(lines, "\n") + "\n"
}

// TestQuietAndNewFileAcrossRestart: a file found at start that had sent nothing yet
// (a quiet container), and a file created while cowbell was stopped (a pod started
// during a rollout), are both read in full after the restart, though start_at is end.
func TestQuietAndNewFileAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	quiet := filepath.Join(dir, "quiet.log")
	testenv.AppendFile(t, quiet, "old line, before cowbell first started\n")
	c := testConfig(filepath.Join(dir, "*.log"))
	c.StartAt = "end"
	cp := sourcestest.NewCheckpoints()
	h := start(t, c, cp)
	h.settle() // it has seen quiet.log, and sent nothing from it
	h.stop()

	quietLines, quietText := numberedLines("quiet", 0, 50)
	testenv.AppendFile(t, quiet, quietText)
	newLines, newText := numberedLines("new", 0, 50)
	testenv.AppendFile(t, filepath.Join(dir, "new.log"), newText)

	h2 := start(t, c, cp)
	got := map[string][]string{}
	for range 100 {
		l := h2.next()
		got[filepath.Base(l.Stream)] = append(got[filepath.Base(l.Stream)], l.Text)
	}
	require.Equal(t, quietLines, got["quiet.log"])
	require.Equal(t, newLines, got["new.log"])
	h2.settle()
}

// TestFirstStartStartsAtEnd: at a source's very first start, files found are read
// from where start_at says; a file appearing later is read from its beginning.
func TestFirstStartStartsAtEnd(t *testing.T) {
	dir := t.TempDir()
	testenv.AppendFile(t, filepath.Join(dir, "a.log"), "before\n")
	c := testConfig(filepath.Join(dir, "*.log"))
	c.StartAt = "end"
	h := start(t, c, nil)
	h.settle()
	testenv.AppendFile(t, filepath.Join(dir, "a.log"), "after\n")
	h.expect("after")
	testenv.AppendFile(t, filepath.Join(dir, "b.log"), "b1\n")
	h.expect("b1")
}

// TestTwoSourcesOverlappingPaths: two file sources whose globs match one file each
// keep their own position: one that read further does not make the other skip.
func TestTwoSourcesOverlappingPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	testenv.AppendFile(t, path, "a1\na2\n")
	cp := sourcestest.NewCheckpoints()
	c := testConfig(path)
	all := startNamed(t, "all", c, cp)
	all.expect("a1", "a2")
	// "some" read only a1 before both stopped.
	some := startNamed(t, "some", c, cp)
	some.expect("a1")
	some.stop()
	all.stop()
	testenv.AppendFile(t, path, "a3\n")

	some2 := startNamed(t, "some", c, cp)
	some2.expect("a2", "a3")
	all2 := startNamed(t, "all", c, cp)
	all2.expect("a3")
}

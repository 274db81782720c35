package file

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/internal/inputfile"
)

// Reasons a file is refused, the reason label of FilesRefused.
const (
	refusedNotRegular = "not_regular"     // a FIFO, a device, a socket, a directory
	refusedUnreadable = "unreadable"      // open failed: permissions, a loop of links
	refusedOutside    = "symlink_outside" // a link leading out of the source's directories
)

// refusal is why a file is not read.
type refusal struct {
	reason string
	err    error
}

// guard decides which files a source opens: regular files only, opened without ever
// blocking (a FIFO's open waits for a writer), whose real path lies inside the
// directories the source names (where its patterns begin) or its follow_roots.
type guard struct {
	roots []string
	// openFile is os.OpenFile; tests make it fail as a permission would for root.
	openFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// newGuard makes the guard of c.
func newGuard(c *Config) *guard {
	g := &guard{openFile: os.OpenFile}
	g.resolve(c)
	return g
}

// resolve sets the roots of c: each taken as configured and, when it leads elsewhere
// through a link, as where it leads now (a scan resolves them again: a directory
// may appear, or become a link, after the start).
func (g *guard) resolve(c *Config) {
	var roots []string
	add := func(p string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		roots = append(roots, filepath.Clean(p))
		if real, err := filepath.EvalSymlinks(p); err == nil {
			roots = append(roots, real)
		}
	}
	for _, p := range c.Paths {
		add(staticDir(p))
	}
	for _, p := range c.FollowRoots {
		add(p)
	}
	slices.Sort(roots)
	g.roots = slices.Compact(roots)
}

// staticDir is the directory a path pattern names: its leading components up to the
// first one that is a pattern, without the file name.
func staticDir(p string) string {
	dir := filepath.Dir(p)
	for hasMeta(dir) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// within reports whether real lies inside one of the roots.
func (g *guard) within(real string) bool {
	for _, r := range g.roots {
		if real == r || strings.HasPrefix(real, r) && (strings.HasSuffix(r, "/") || real[len(r)] == '/') {
			return true
		}
	}
	return false
}

// open opens path for reading if the guard lets it: nil, nil, nil when it is gone,
// a refusal when it is not let through.
func (g *guard) open(path string) (*os.File, os.FileInfo, *refusal) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, &refusal{refusedUnreadable, err}
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &refusal{refusedNotRegular, fmt.Errorf("%s is %s", path, inputfile.Kind(fi.Mode()))}
	}
	// O_NONBLOCK: should the path have become a FIFO since the stat, the open does
	// not wait for a writer (a regular file's reads ignore the flag).
	f, err := g.openFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, &refusal{refusedUnreadable, err}
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, nil, &refusal{refusedUnreadable, err}
		}
		return nil, nil, &refusal{refusedNotRegular, fmt.Errorf("%s is %s", path, inputfile.Kind(fi.Mode()))}
	}
	if real := openPath(f, path); !g.within(real) {
		f.Close()
		return nil, nil, &refusal{refusedOutside, fmt.Errorf("%s leads to %s, outside %s", path, real, strings.Join(g.roots, ", "))}
	}
	return f, fi, nil
}

// openPath is where the open file f, opened at path, lies: as the kernel names it
// (no race with a link changed since the open), else as path's links lead now.
func openPath(f *os.File, path string) string {
	var real string
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			real, _ = os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
		})
	}
	if filepath.IsAbs(real) {
		return real
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			return abs
		}
	}
	return path
}

// refused keeps the files a source does not read, by path, so each is warned about
// once, and says how many there are by reason.
type refused struct {
	paths map[string]string // path → reason
}

// refuse records that path is not read; a new refusal (or a new reason) is warned
// about and counted.
func (s *Source) refuse(path string, rf *refusal) {
	if s.refused.paths[path] == rf.reason {
		return
	}
	s.refused.paths[path] = rf.reason
	s.filesRefused.WithLabelValues(rf.reason).Inc()
	s.log.Warn("file not read", zap.String("file", path), zap.String("reason", rf.reason), zap.Error(rf.err))
	s.refusedChanged()
}

// accept records that path is read (again).
func (s *Source) accept(path string) {
	if _, ok := s.refused.paths[path]; ok {
		delete(s.refused.paths, path)
		s.log.Info("file readable again", zap.String("file", path))
		s.refusedChanged()
	}
}

// forgetGone drops the refused paths that no longer exist.
func (s *Source) forgetGone() {
	changed := false
	for p := range s.refused.paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			delete(s.refused.paths, p)
			changed = true
		}
	}
	if changed {
		s.refusedChanged()
	}
}

// refusedChanged sets the gauges of refused files and tells the source's status.
func (s *Source) refusedChanged() {
	n := map[string]int{}
	for _, reason := range s.refused.paths {
		n[reason]++
	}
	for _, reason := range []string{refusedNotRegular, refusedUnreadable, refusedOutside} {
		s.refusedNow.WithLabelValues(reason).Set(float64(n[reason]))
	}
	if s.trouble != nil {
		s.trouble(refusedNote(n))
	}
}

// refusedNote says in a few words which files are not read: "2 files unreadable, 1
// link outside follow_roots"; "" when none.
func refusedNote(n map[string]int) string {
	words := map[string]string{
		refusedUnreadable: "unreadable",
		refusedNotRegular: "not regular (a FIFO, a device)",
		refusedOutside:    "linked outside the source's directories",
	}
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(n)) {
		k := n[reason]
		if k == 0 {
			continue
		}
		noun := "files"
		if k == 1 {
			noun = "file"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", k, noun, words[reason]))
	}
	return strings.Join(parts, ", ")
}

package file

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxSiblings bounds how many names beside a file a search looks at.
const maxSiblings = 1000

// compressedSuffixes mark rotated files that were compressed: their bytes are not
// the log's any more.
var compressedSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".z"}

// found is a file a search opened.
type found struct {
	f    *os.File
	path string
	fi   os.FileInfo
}

// siblings returns the files beside path that rotation names after it (app.log.1,
// app.log-20240101, 0.log.20240101-120000, <id>-json.log.1), not path itself and not
// compressed ones.
func siblings(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if name == base || !strings.HasPrefix(name, base) || e.IsDir() {
			continue
		}
		if slices.ContainsFunc(compressedSuffixes, func(s string) bool { return strings.HasSuffix(name, s) }) {
			continue
		}
		out = append(out, filepath.Join(dir, name))
		if len(out) == maxSiblings {
			break
		}
	}
	return out
}

// openIf opens path if it is a regular file accepted by ok, checked on the open file.
func openIf(path string, ok func(*os.File, os.FileInfo) bool) (found, bool) {
	f, err := os.Open(path)
	if err != nil {
		return found{}, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !ok(f, fi) {
		f.Close()
		return found{}, false
	}
	return found{f: f, path: path, fi: fi}, true
}

// findByIdentity looks for the file p names where it may have gone: where it was read,
// renamed beside it, or at one of the extra paths.
func findByIdentity(p filePos, extra []string) (found, bool) {
	cands := append([]string{p.path}, siblings(p.path)...)
	cands = append(cands, extra...)
	for _, c := range cands {
		fi, err := os.Stat(c)
		if err != nil || identityOf(fi) != p.id {
			continue
		}
		fd, ok := openIf(c, func(f *os.File, fi os.FileInfo) bool {
			same, err := p.fp.matches(f)
			return identityOf(fi) == p.id && same && err == nil
		})
		if ok {
			return fd, true
		}
	}
	return found{}, false
}

// findCopy finds the copy that copytruncate made of a file before truncating it: a
// file beside it, not itself, that begins with the same bytes, holds at least off
// bytes and has a line ending at off. The newest such file wins.
func findCopy(path string, self identity, fp fingerprint, off int64) (found, bool) {
	if fp.n == 0 {
		return found{}, false
	}
	cands := siblings(path)
	mtimes := make(map[string]time.Time, len(cands))
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && identityOf(fi) != self && fi.Size() >= off {
			mtimes[c] = fi.ModTime()
		}
	}
	cands = slices.DeleteFunc(cands, func(c string) bool { _, ok := mtimes[c]; return !ok })
	slices.SortStableFunc(cands, func(a, b string) int { return mtimes[b].Compare(mtimes[a]) })
	for _, c := range cands {
		fd, ok := openIf(c, func(f *os.File, fi os.FileInfo) bool {
			same, err := fp.matches(f)
			return err == nil && same && identityOf(fi) != self && endsLine(f, off)
		})
		if ok {
			return fd, true
		}
	}
	return found{}, false
}

// endsLine reports whether the byte before off is a newline (or off is 0).
func endsLine(f *os.File, off int64) bool {
	if off == 0 {
		return true
	}
	var b [1]byte
	n, _ := f.ReadAt(b[:], off-1)
	return n == 1 && b[0] == '\n'
}

// findBetween finds files beside path, changed at or after since, that known does not
// know: generations a rotation passed by while the reader was behind. They come
// oldest first.
func findBetween(path string, since time.Time, known func(identity) bool) []found {
	var out []found
	for _, c := range siblings(path) {
		fi, err := os.Stat(c)
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(since) || known(identityOf(fi)) {
			continue
		}
		id := identityOf(fi)
		if fd, ok := openIf(c, func(_ *os.File, fi os.FileInfo) bool { return identityOf(fi) == id }); ok {
			out = append(out, fd)
		}
	}
	slices.SortStableFunc(out, func(a, b found) int { return a.fi.ModTime().Compare(b.fi.ModTime()) })
	return out
}

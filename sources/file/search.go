package file

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxSiblings bounds how many names beside a file a search looks at.
const maxSiblings = 1000

// compressedSuffixes mark rotated files that were compressed: their bytes are not
// the log's. Those with a decompressor are read as the log they hold.
var compressedSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".z", ".Z"}

// compressedSuffix returns the compression suffix name ends with, or "".
func compressedSuffix(name string) string {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(name, s) {
			return s
		}
	}
	return ""
}

// found is a file a search opened.
type found struct {
	f    *os.File
	path string
	fi   os.FileInfo
}

// siblings returns the files beside path that rotation names after it (app.log.1,
// app.log-20240101, 0.log.20240101-120000, <id>-json.log.1, app.log.2.gz), not path
// itself; compressed ones only when they can be read.
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
		if compressedSuffix(name) != "" && decompressorFor(name) == nil || strings.HasSuffix(name, ".tmp") {
			continue // unreadable, or a compression under way (kubelet writes <name>.tmp)
		}
		out = append(out, filepath.Join(dir, name))
		if len(out) == maxSiblings {
			break
		}
	}
	return out
}

// generation is a file of a stream found on disk: the file at the stream's path, or
// one that rotation made of it (renamed, copied, compressed).
type generation struct {
	path       string
	fi         os.FileInfo // the file's own (for a compressed one, the compressed file's)
	id         identity
	compressed bool
	group      int    // which stem it was found beside: older stems first
	suffix     string // its name after the stem's, without the compression suffix; "" for the stem
	stem       bool   // it is the stem itself: the stream's current file

	c     content // set by open
	birth int64
	err   error
	taken bool // handed to a file to read: closeGenerations leaves it open

	r *run // whose guard opens it, and hears of a refusal
}

// findGenerations lists the files at and beside each stem (oldest stem first), oldest
// generation first within a stem. A plain file and a compressed copy of the same
// generation (a compression under way) count once, as the plain one.
func (r *run) findGenerations(stems []string) []*generation {
	var gens []*generation
	ids := map[identity]bool{}
	add := func(group int, path, suffix string, isStem bool) {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() || ids[identityOf(fi)] {
			return
		}
		ids[identityOf(fi)] = true
		cs := compressedSuffix(path)
		gens = append(gens, &generation{
			path: path, fi: fi, id: identityOf(fi), compressed: !isStem && cs != "",
			group: group, suffix: strings.TrimSuffix(suffix, cs), stem: isStem, r: r,
		})
	}
	for i, stem := range stems {
		add(i, stem, "", true)
		base := filepath.Base(stem)
		for _, p := range siblings(stem) {
			add(i, p, strings.TrimPrefix(filepath.Base(p), base), false)
		}
	}
	slices.SortStableFunc(gens, compareGenerations)
	// One generation being compressed: keep the plain file (sorted first), which is whole.
	return slices.CompactFunc(gens, func(a, b *generation) bool {
		return a.group == b.group && !a.stem && !b.stem && a.suffix == b.suffix
	})
}

// compareGenerations orders two generations oldest first: by stem, then the stem's
// own file last; then names that carry the time (logrotate's dateext, kubelet's
// <n>.log.<time>) in their order; plain files by when they were last written (by
// number when that was within one tick of the file system's clock); and a
// compressed one, whose time may be when it was compressed, by its number
// (app.log.2.gz is older than app.log.1).
func compareGenerations(a, b *generation) int {
	if a.group != b.group {
		return a.group - b.group
	}
	if a.stem != b.stem {
		if a.stem {
			return 1
		}
		return -1
	}
	if a.suffix == b.suffix {
		if a.compressed != b.compressed { // the plain one first: it is kept
			if a.compressed {
				return 1
			}
			return -1
		}
		return 0
	}
	na, aok := rotationNumber(a.suffix)
	nb, bok := rotationNumber(b.suffix)
	switch {
	case !aok && !bok && shape(a.suffix) == shape(b.suffix):
		return strings.Compare(a.suffix, b.suffix)
	case !a.compressed && !b.compressed:
		if c := a.fi.ModTime().Compare(b.fi.ModTime()); c != 0 || !aok || !bok {
			return c
		}
		return nb - na // written within one tick of the clock: the names say
	case aok && bok:
		return nb - na
	}
	return a.fi.ModTime().Compare(b.fi.ModTime())
}

// rotationNumber reads a numbered rotation's suffix (".1", "-3").
func rotationNumber(suffix string) (int, bool) {
	if len(suffix) < 2 || len(suffix) > 6 || suffix[0] != '.' && suffix[0] != '-' {
		return 0, false
	}
	n, err := strconv.Atoi(suffix[1:])
	return n, err == nil && n >= 0
}

// shape is a suffix with every digit replaced by 9: dated names of one scheme
// ("-20250102", ".20250102-030405") share it, and sort by time as text.
func shape(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '9'
		}
		return r
	}, s)
}

// open opens the generation for reading, decompressing a compressed one; the error is
// kept, and open is not tried again.
func (g *generation) open() error {
	if g.c != nil || g.err != nil {
		return g.err
	}
	f, fi, rf := g.r.s.guard.open(g.path)
	if rf != nil {
		g.r.s.refuse(g.path, rf)
		g.err = rf.err
		return g.err
	}
	if f == nil {
		g.err = fs.ErrNotExist
		return g.err
	}
	if identityOf(fi) != g.id {
		f.Close()
		g.err = errors.New("replaced since it was found")
		return g.err
	}
	g.birth = birthOf(f)
	if !g.compressed {
		g.c = f
		return nil
	}
	d, err := openDecompressed(f, decompressorFor(g.path))
	if err != nil {
		f.Close()
		g.err = err
		return err
	}
	g.c = d
	return nil
}

// close closes the generation unless handed on (take).
func (g *generation) close() {
	if g.c != nil {
		g.c.Close()
		g.c = nil
	}
}

// opened hands the open generation to a file to read.
func (g *generation) opened() opened {
	return opened{c: g.c, path: g.path, fi: g.fi, birth: g.birth, compressed: g.compressed}
}

// closeGenerations closes the generations a search opened and did not hand on.
func closeGenerations(gens []*generation) {
	for _, g := range gens {
		if !g.taken {
			g.close()
		}
	}
}

// holds reports whether the generation holds the content p was taken on, up to where
// it was read: it begins with the same bytes, and has the same bytes before the anchor
// (a cursor from before anchors: at least off bytes).
func (g *generation) holds(p *filePos) bool {
	if g.open() != nil {
		return false
	}
	if ok, err := p.fp.matches(g.c); err != nil || !ok {
		return false
	}
	if p.at.n > 0 {
		return p.at.matches(g.c)
	}
	return g.atLeast(p.off)
}

// atLeast reports whether the generation's content is at least n bytes long.
func (g *generation) atLeast(n int64) bool {
	if !g.compressed {
		return g.fi.Size() >= n
	}
	if n == 0 {
		return true
	}
	var b [1]byte
	k, _ := g.c.ReadAt(b[:], n-1)
	return k == 1
}

// endsLine reports whether the byte before off is a newline (or off is 0).
func endsLine(r io.ReaderAt, off int64) bool {
	if off == 0 {
		return true
	}
	var b [1]byte
	n, _ := r.ReadAt(b[:], off-1)
	return n == 1 && b[0] == '\n'
}

package file

import (
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"
)

// resume starts a stream from its checkpoint: the files it names, and every generation
// of the stream written after them, whatever happened while cowbell was stopped.
//
// The files of the stream are listed beside its path, and beside the path the
// checkpoint's current file had: the path's own file, and the files rotation made of
// it (renamed, copied by copytruncate, compressed), ordered by their rotation names.
// Each file the checkpoint names is found there by its content (first bytes, and the
// bytes before where it was read to), preferring the file with its inode and birth
// time: renamed, it is the same file; copied or compressed, its content lives on in
// another. Reading goes on at the offset the checkpoint gives for each file found, and
// every other generation from the oldest found on is read from its beginning, in
// order: generations rotated past while stopped, and a file truncated in place or
// reusing an inode (its new content). When none is found (deleted), the generations
// changed after the checkpoint's files were last read (or after since) are read, and
// the stream's own file from its beginning.
func (r *run) resume(st *stream, ps []filePos, since time.Time) {
	for i := range ps {
		if ps[i].path == "" { // left out: the stream's own
			ps[i].path = st.path
		}
	}
	// Files another path follows are not read twice.
	gens := slices.DeleteFunc(r.findGenerations(resumeStems(st.path, ps)), func(g *generation) bool { return r.taken(g.id) })
	defer closeGenerations(gens)
	loc := r.locate(gens, ps)

	first := len(gens)
	for _, i := range loc {
		if i >= 0 {
			first = min(first, i)
		}
	}
	nothing := first == len(gens) // no file the checkpoint names is left
	if nothing {
		first = 0
		for _, p := range ps {
			if p.read.After(since) {
				since = p.read
			}
		}
	} else {
		since = time.Time{}
	}
	entry := map[int]*filePos{}
	for k, i := range loc {
		if i >= 0 {
			entry[i] = &ps[k]
		}
	}
	cur := realPath(st.path)
	for i := first; i < len(gens); i++ {
		g := gens[i]
		p := entry[i]
		if p == nil && !g.stem && (nothing && since.IsZero() || !since.IsZero() && !g.fi.ModTime().After(since)) {
			continue // the checkpoint's files are gone: only what changed after them
		}
		if g.open() != nil {
			continue
		}
		var off, done int64
		if p != nil {
			off, done = p.off, p.done
		}
		fl := r.newFile(st, g.opened(), off).resumeFrom(done)
		g.taken = true
		if p != nil && !p.read.IsZero() && p.at.end > off {
			// In the clock's zone, as the first time: the same instant prints the same.
			fl.replayTo, fl.replayAt = p.at.end, p.read.In(r.s.now().Location())
		}
		if g.stem && g.path == cur {
			st.cur = fl
			r.s.log.Info("resuming file", zap.String("stream", st.path), zap.Int64("offset", off), zap.Bool("same", p != nil))
			continue
		}
		fl.graceEnd = r.s.now()
		if !g.compressed {
			fl.graceEnd = fl.graceEnd.Add(r.s.cfg.RotateGrace)
		}
		st.drains = append(st.drains, fl)
		r.s.log.Info("reading a rotated file", zap.String("stream", st.path), zap.String("file", g.path), zap.Int64("offset", off))
	}
	r.countRotation(st, ps, loc, gens)
}

// countRotation counts what happened to the checkpoint's current file while cowbell
// was stopped: another file at the path is a rotation (renamed, or deleted and
// created again), the same file with other content a truncation.
func (r *run) countRotation(st *stream, ps []filePos, loc []int, gens []*generation) {
	k := slices.IndexFunc(ps, func(p filePos) bool { return p.current })
	if k < 0 || st.cur == nil || loc[k] >= 0 && gens[loc[k]].stem {
		return
	}
	if st.cur.id == ps[k].id && sameBirth(st.cur.birth, ps[k].birth) {
		r.s.rotations.WithLabelValues("truncate").Inc()
		return
	}
	r.s.rotations.WithLabelValues("rename").Inc()
}

// locate finds, for each file the checkpoint names, the generation that holds its
// content (-1: none): first by inode and birth time, then by content alone (a copy,
// a compressed generation). No generation holds two.
func (r *run) locate(gens []*generation, ps []filePos) []int {
	loc := make([]int, len(ps))
	used := make([]bool, len(gens))
	for k := range ps {
		p := &ps[k]
		loc[k] = slices.IndexFunc(gens, func(g *generation) bool {
			return g.id == p.id && g.open() == nil && sameBirth(g.birth, p.birth) && g.holds(p)
		})
		if loc[k] >= 0 && used[loc[k]] {
			loc[k] = -1
		}
		if loc[k] < 0 {
			for i, g := range gens {
				if !used[i] && g.holds(p) && (g.id != p.id || !sameBirth(g.birth, p.birth)) {
					loc[k] = i
					break
				}
			}
		}
		if loc[k] >= 0 {
			used[loc[k]] = true
		}
	}
	return loc
}

// resumeStems lists the paths whose generations a stream's files are looked for
// beside, oldest first: the path of the checkpoint's current file (the stream's path
// then), and where the stream's path leads now; a file the checkpoint names that sits
// elsewhere is looked for where it was.
func resumeStems(path string, ps []filePos) []string {
	var stems []string
	add := func(p string) {
		if p != "" && !slices.Contains(stems, p) {
			stems = append(stems, p)
		}
	}
	for _, p := range ps {
		if !p.current && !slices.ContainsFunc(ps, func(c filePos) bool {
			return c.current && filepath.Dir(c.path) == filepath.Dir(p.path)
		}) && filepath.Dir(p.path) != filepath.Dir(realPath(path)) {
			add(p.path)
		}
	}
	for _, p := range ps {
		if p.current {
			add(p.path)
		}
	}
	add(realPath(path))
	return stems
}

// resumeFrom makes a file just opened at a cursor's off, whose lines up to done were
// sent already (a line was half joined), join only that line's pieces up to done.
func (fl *file) resumeFrom(done int64) *file {
	if done > fl.off {
		fl.done = done
		fl.dec.startAt(fl.off, done)
	}
	return fl
}

// realPath is where path leads, or path itself when that cannot be told.
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

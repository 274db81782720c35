package file

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// maxSeen bounds the set of files read during one run before it is forgotten.
const maxSeen = 4096

// stream is one followed path: the file there now, and rotated files it was before
// that are still drained. Its path names the lines and the checkpoint.
type stream struct {
	path     string
	h        *sources.Stream // its position, kept by the source's Positions
	recorded bool            // it has a stored position (checkpoint, or where it began)
	cur      *file
	idle     *parkedFile // its current file, closed while idle (see park)
	matched  bool        // the patterns matched its path at the last look
	drains   []*file
	prefix   string // the cursor up to cur's offset; "" when it must be rebuilt
}

// pos returns the cursor after the line fl just sent: every file's offset.
func (st *stream) pos(fl *file) string { return st.cursor(fl).Position() }

// cursor returns the cursor after the line fl just sent. All but the current file's
// offset is kept (prefix) for the next lines of that file, which share it: the
// offset is left apart (sources.Cursor.Offset).
func (st *stream) cursor(fl *file) sources.Cursor {
	if fl != st.cur || st.prefix == "" {
		h := []byte(posVersion)
		for _, d := range st.drains {
			p := d.position(false)
			h = append(h, ';')
			h = appendPosHead(h, &p)
			h = appendOffset(h, d.off, d.done)
		}
		if st.cur == nil {
			return sources.Cursor{Pos: string(h)}
		}
		p := st.cur.position(true)
		h = append(h, ';')
		h = appendPosHead(h, &p)
		st.prefix = string(h)
	}
	return sources.Cursor{Pos: st.prefix, Off: st.cur.off, Done: st.cur.done, Offset: true}
}

// position is the file's entry in a cursor, but for its offset. Every line carries
// its stream's cursor, so the path is left out when it is the stream's own.
func (fl *file) position(current bool) filePos {
	p := filePos{current: current, id: fl.id, birth: fl.birth, fp: fl.fp, at: fl.at, read: fl.lastData, path: fl.path}
	if p.path == fl.st.path {
		p.path = ""
	}
	return p
}

// run is the state of one call of Run.
type run struct {
	ctx     context.Context
	s       *Source
	em      *sources.Emitter // the lines of the read in progress
	chunk   chunk            // the texts of the read in progress
	watcher *watcher

	streams   map[string]*stream
	open      map[identity]*file // every open file, so two paths never read one file
	postponed map[identity]string
	seen      map[identity]seenFile // files read in this run
	more      bool                  // the last pass stopped before some file's end
	began     time.Time             // when the run started (the file system's clock)

	parked    map[identity]*stream // streams whose idle file is closed, by the file
	behind    []*stream            // streams closed before their file's end: read on when there is room
	maxOpen   int                  // the cap on open files
	lastFull  time.Time            // when the last full scan began (the real clock)
	fullSoon  bool                 // a full scan at the next tick: a directory was watched anew
	unwatched bool                 // a directory it needs cannot be watched: polling
}

// seenFile is what tells a file read in this run from a later one that got its inode.
type seenFile struct {
	birth int64
	fp    fingerprint
}

// knows reports whether g is a file read in this run (or open now): same inode and,
// where known, the same birth time, else the same first bytes.
func (r *run) knows(g *generation) bool {
	if r.taken(g.id) {
		return true
	}
	s, ok := r.seen[g.id]
	if !ok {
		return false
	}
	if g.open() != nil {
		return true // gone or unreadable: nothing to read there anyway
	}
	if s.birth != 0 && g.birth != 0 {
		return s.birth == g.birth
	}
	same, err := s.fp.matches(g.c)
	return err == nil && same
}

func newRun(ctx context.Context, s *Source, out chan<- *sources.Batch) *run {
	return &run{
		ctx: ctx, s: s, em: s.pos.Emitter(out),
		streams:   map[string]*stream{},
		open:      map[identity]*file{},
		postponed: map[identity]string{},
		seen:      map[identity]seenFile{},
		began:     time.Now(),
		parked:    map[identity]*stream{},
		maxOpen:   openCap(s.cfg.MaxOpenFiles),
	}
}

// scan matches the patterns, starts new paths, follows rotations and reads: every
// followed path is looked at.
func (r *run) scan(first bool) error {
	r.lastFull, r.fullSoon = time.Now(), false
	r.s.guard.resolve(&r.s.cfg)
	if len(r.s.refused.paths) > 0 {
		r.s.forgetGone()
	}
	if err := r.discover(first); err != nil {
		return err
	}
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		if err := r.visit(r.streams[p]); err != nil {
			return err
		}
	}
	r.watch()
	return r.afterPass()
}

// discover matches the patterns and starts the paths not followed yet.
func (r *run) discover(first bool) error {
	for _, st := range r.streams {
		st.matched = false
	}
	clear(r.postponed)
	var fresh []*stream
	for _, p := range r.s.expand() {
		if st, ok := r.streams[p]; ok {
			st.matched = true
			continue
		}
		if fi, err := os.Stat(p); err == nil && r.taken(identityOf(fi)) {
			// The same file under another path (a rotated name a glob also matches, a
			// link): it goes on under the path it was found at first.
			r.postponed[identityOf(fi)] = p
			continue
		}
		st := &stream{path: p, matched: true}
		r.streams[p] = st
		fresh = append(fresh, st)
	}
	return r.start(fresh, first)
}

// visit looks at what a followed path leads to now, reads it, and forgets the path
// once it is no longer matched and its files are read.
func (r *run) visit(st *stream) error {
	if err := r.refresh(st); err != nil {
		return err
	}
	// Where a stream found now begins is stored before its first line is sent.
	if err := r.s.pos.Record(r.ctx); err != nil {
		return err
	}
	if err := r.readStream(st); err != nil {
		return err
	}
	if !st.matched && st.cur == nil && st.idle == nil && len(st.drains) == 0 {
		delete(r.streams, st.path)
		r.s.pos.Forget(st.path)
	}
	return nil
}

// afterPass keeps the descriptors under the cap, and reads on the files closed
// before their end.
func (r *run) afterPass() error {
	if err := r.readBehind(); err != nil {
		return err
	}
	r.parkIdle()
	return nil
}

// tick does what time asks for: a full scan while polling (no inotify, or a
// directory it cannot watch) and every rescan_interval; else it reads the streams
// that wait for something (a partial line's flush, a rotated file's grace period, a
// file with more to read).
func (r *run) tick() (full bool, err error) {
	if r.polling() || r.fullSoon || time.Since(r.lastFull) >= r.s.cfg.RescanInterval {
		return true, r.scan(false)
	}
	r.more = false
	for _, st := range r.streams {
		if len(st.drains) > 0 || st.cur != nil && r.waits(st.cur) {
			if err := r.readStream(st); err != nil {
				return false, err
			}
		}
	}
	return false, r.afterPass()
}

// quiet reports whether nothing but the next full scan waits for a timer: inotify
// watches every directory needed, no full scan is due early, no file is behind or
// has more to read, and no stream waits (a drain, a partial record, a join).
func (r *run) quiet() bool {
	if r.polling() || r.fullSoon || r.more || len(r.behind) > 0 {
		return false
	}
	for _, st := range r.streams {
		if len(st.drains) > 0 || st.cur != nil && r.waits(st.cur) {
			return false
		}
	}
	return true
}

// waits reports whether a file has something for a timer: a partial record, a line
// being joined, or more to read than the last pass took.
func (r *run) waits(fl *file) bool {
	return !fl.tailing || fl.split.pending() || fl.dec.joining()
}

// polling reports whether the source must poll: inotify does not watch every
// directory it needs.
func (r *run) polling() bool {
	return r.watcher.w == nil || r.unwatched
}

// scanChanged looks at the paths inotify says were created, renamed, removed or
// changed otherwise: the patterns are matched again when such a path could match
// one, and the streams those paths belong to are looked at and read.
func (r *run) scanChanged() error {
	changed, all := r.watcher.takeMoved()
	if all {
		return r.scan(false)
	}
	r.more = false
	looked := slices.ContainsFunc(slices.Collect(maps.Keys(changed)), r.couldMatch)
	if looked {
		if err := r.discover(false); err != nil {
			return err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		st := r.streams[p]
		if r.touched(st, changed) {
			looked = true
			if err := r.visit(st); err != nil {
				return err
			}
		}
	}
	if looked {
		r.watch() // where new paths, and paths that lead elsewhere now, lie
	}
	return r.afterPass()
}

// touched reports whether a change to one of the paths may concern the stream: its
// path, its file, or a name beside its file that starts with its file's (rotation).
func (r *run) touched(st *stream, changed map[string]bool) bool {
	if changed[filepath.Clean(st.path)] || len(st.drains) > 0 {
		return true
	}
	var real string
	switch {
	case st.cur != nil:
		real = st.cur.path
	case st.idle != nil:
		real = st.idle.path
	default:
		return true // nothing open: look again
	}
	if changed[real] {
		return true
	}
	dir, base := filepath.Split(real)
	for p := range changed {
		if d, b := filepath.Split(p); d == dir && strings.HasPrefix(b, base) {
			return true
		}
	}
	return false
}

// couldMatch reports whether path is, or could lead to, a match of a pattern: it
// matches the pattern's leading components, as many as it has.
func (r *run) couldMatch(path string) bool {
	n := strings.Count(path, "/")
	for _, p := range r.s.cfg.Paths {
		parts := strings.SplitAfter(p, "/")
		if n >= len(parts) {
			continue
		}
		prefix := strings.TrimSuffix(strings.Join(parts[:n+1], ""), "/")
		if ok, _ := filepath.Match(prefix, path); ok {
			return true
		}
	}
	return false
}

// readAll reads every stream without looking for rotations.
func (r *run) readAll() error {
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		if err := r.readStream(r.streams[p]); err != nil {
			return err
		}
	}
	return r.afterPass()
}

// readChanged reads the streams whose files were written, as notifications tell,
// and those draining rotated files (a renamed file's events carry its new name). A
// written file that was closed while idle is opened again.
func (r *run) readChanged() error {
	names, all := r.watcher.takeWritten()
	if all {
		return r.scan(false) // too many to remember: look at every file
	}
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		st := r.streams[p]
		path := filepath.Clean(st.path)
		if st.idle != nil && (names[path] || names[st.idle.path]) {
			r.unpark(st)
		}
		if names[path] || (st.cur != nil && names[st.cur.path]) || len(st.drains) > 0 {
			if err := r.readStream(st); err != nil {
				return err
			}
		}
	}
	return r.afterPass()
}

// watch asks for events from the directories the patterns name and lead through,
// and those of the followed paths and files. A directory that does not exist yet is
// watched through the nearest one that does; one that cannot be watched (inotify's
// limit) makes the source poll. A directory watched anew is scanned fully at the
// next tick: files may have come before its watch.
func (r *run) watch() {
	if r.watcher.w == nil {
		return
	}
	unwatched := false
	add := func(dir string) {
		watched, added := r.watcher.add(dir)
		for !watched {
			if _, err := os.Stat(dir); err == nil {
				unwatched = true // it is there, but cannot be watched
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
			watched, added = r.watcher.add(dir)
		}
		if added {
			r.fullSoon = true
		}
	}
	for _, p := range r.s.cfg.Paths {
		dir := filepath.Dir(p)
		if !hasMeta(dir) {
			add(dir)
			continue
		}
		// A pattern in the directories: watch where it starts and every directory
		// its leading components match, to see new ones come.
		top := staticDir(p)
		add(top)
		for d := dir; d != top; d = filepath.Dir(d) {
			if !hasMeta(d) {
				continue
			}
			ms, _ := filepath.Glob(d)
			for _, m := range ms {
				add(m)
			}
		}
	}
	for _, st := range r.streams {
		add(filepath.Dir(st.path))
		if st.cur != nil {
			add(filepath.Dir(st.cur.path))
		} else if st.idle != nil {
			add(filepath.Dir(st.idle.path))
		}
	}
	if unwatched && !r.unwatched {
		r.s.log.Warn("cannot watch every directory (inotify's limit on watches?), polling every poll_interval")
	}
	r.unwatched = unwatched
}

// start begins the paths a scan found: at their position when they have one (see
// sources.Positions); else, at the source's very first start, where start_at says.
// Otherwise they appeared later or while cowbell was away: they are read from their
// beginning, after the generations rotation made of them since cowbell last started
// (this run, for a path that appears while it runs).
func (r *run) start(fresh []*stream, first bool) error {
	var none []*stream
	for _, st := range fresh {
		h, pos, ok, err := r.s.pos.Resume(r.ctx, st.path)
		if err != nil {
			return err
		}
		st.h = h
		if ok {
			ps, err := decodePos(pos)
			if err == nil {
				st.recorded = true
				r.resume(st, ps, time.Time{})
				r.parkIdle()
				continue
			}
			r.s.log.Warn("unreadable checkpoint, starting over", zap.String("stream", st.path), zap.Error(err))
		}
		none = append(none, st)
	}
	if len(none) == 0 {
		return r.s.pos.Record(r.ctx) // at the first scan, the mark that the source ran
	}
	since := r.began
	if first {
		ran, before, err := r.s.pos.RanBefore(r.ctx)
		if err != nil {
			return err
		}
		if !ran {
			for _, st := range none {
				r.openCurrent(st, r.s.cfg.startAt())
				r.parkIdle()
			}
			return r.s.pos.Record(r.ctx)
		}
		since = before
	}
	for _, st := range none {
		if since.IsZero() {
			r.openCurrent(st, sources.StartAtBeginning)
			r.parkIdle()
			continue
		}
		r.resume(st, nil, since)
		if st.cur != nil || len(st.drains) > 0 {
			st.h.Discovered(st.pos(st.cur))
			st.recorded = true
		}
		r.parkIdle()
	}
	return r.s.pos.Record(r.ctx)
}

// refresh looks at what the stream's path leads to now. Another file there (a rename,
// a delete and recreate, a retargeted symlink) is a rotation: the old file is read to
// its end, kept draining for rotate_grace, and the new one is read from its beginning.
func (r *run) refresh(st *stream) error {
	if st.idle != nil {
		if !r.idleChanged(st) {
			return nil
		}
		r.unpark(st)
	}
	fi, err := os.Stat(st.path)
	if err != nil {
		if st.cur != nil && errors.Is(err, fs.ErrNotExist) {
			return r.retire(st, "delete")
		}
		return nil
	}
	if st.cur != nil && st.cur.id == identityOf(fi) {
		return nil
	}
	if st.cur != nil {
		if err := r.retire(st, "rename"); err != nil {
			return err
		}
	}
	r.openCurrent(st, sources.StartAtBeginning)
	return nil
}

// retire reads the stream's current file to its end and moves it to the drained
// files, followed by any generations rotated past while the reader was behind.
func (r *run) retire(st *stream, kind string) error {
	old := st.cur
	s, err := r.readFile(old, 0)
	if err != nil {
		return err
	}
	if s == wasTruncated {
		r.truncated(st, old) // its copy and its new content are drained below
	}
	old.graceEnd = r.s.now().Add(r.s.cfg.RotateGrace)
	st.cur, st.prefix = nil, ""
	st.drains = append(st.drains, old)
	r.s.rotations.WithLabelValues(kind).Inc()
	r.s.log.Info("file rotated", zap.String("stream", st.path), zap.String("kind", kind))
	r.passedBy(st, old)
	return nil
}

// passedBy drains, from their beginning, the generations rotated past while the
// reader was behind: beside old's path, newer than old (where old went now, else
// changed after it was last read), not read in this run, and not the stream's own
// path, which becomes its current file.
func (r *run) passedBy(st *stream, old *file) {
	gens := r.findGenerations([]string{old.path})
	defer closeGenerations(gens)
	from := slices.IndexFunc(gens, func(g *generation) bool {
		return g.id == old.id && (old.birth == 0 || g.open() == nil && sameBirth(g.birth, old.birth))
	})
	for i, g := range gens {
		// Ranked after old, or plain and written since old's end was read (a scheme
		// whose names say nothing): a compressed file's time is when it was compressed.
		newer := from >= 0 && i > from || !g.compressed && !g.fi.ModTime().Before(old.mtime)
		if !newer || g.stem || r.knows(g) || g.open() != nil {
			continue
		}
		fl := r.newFile(st, g.opened(), 0)
		g.taken = true
		fl.graceEnd = r.s.now()
		st.drains = append(st.drains, fl)
		r.s.log.Info("reading a rotated file passed by", zap.String("stream", st.path), zap.String("file", g.path))
	}
}

// openCurrent opens the file at the stream's path as its current file. A stream
// without a stored position gets one: where it begins reading now.
func (r *run) openCurrent(st *stream, at sources.StartAt) {
	f, fi, rf := r.s.guard.open(st.path)
	if rf != nil {
		r.s.refuse(st.path, rf)
		return
	}
	if f == nil {
		return
	}
	r.s.accept(st.path)
	fd := found{f: f, path: st.path, fi: fi}
	if r.parked[identityOf(fd.fi)] != nil {
		fd.f.Close()
		return // another path follows this file
	}
	if fl := r.open[identityOf(fd.fi)]; fl != nil {
		fd.f.Close()
		if i := slices.Index(st.drains, fl); i >= 0 {
			// One of the stream's rotated files was moved back: it is current again.
			st.drains = slices.Delete(st.drains, i, i+1)
			st.cur, st.prefix = fl, ""
		}
		return // else another path follows this file
	}
	fd.path = realPath(st.path)
	var off int64
	if at == sources.StartAtEnd {
		off = fd.fi.Size()
	}
	st.cur, st.prefix = r.newFile(st, plainFile(fd), off), ""
	if st.recorded {
		st.h.Moved(st.pos(st.cur))
	} else {
		st.h.Discovered(st.pos(st.cur))
		st.recorded = true
	}
	r.s.log.Info("following file", zap.String("stream", st.path), zap.Int64("offset", off))
}

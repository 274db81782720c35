package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// maxSeen bounds the set of files read during one run before it is forgotten.
const maxSeen = 4096

// stream is one followed path: the file there now, and rotated files it was before
// that are still drained. Its path names the lines and the checkpoint.
type stream struct {
	path   string
	cur    *file
	drains []*file
	prefix string // the cursor up to cur's offset; "" when it must be rebuilt
	last   string // the cursor after the last line sent, or where reading began
}

// pos returns the cursor after the line fl just sent: every file's offset.
func (st *stream) pos(fl *file) string {
	if fl == st.cur && st.prefix != "" {
		return withOffset(st.prefix, fl.off, fl.done)
	}
	b := []byte(posVersion)
	for _, d := range st.drains {
		b = append(b, ';')
		b = appendPosHead(b, false, d.id, d.fp, d.path)
		b = appendOffset(b, d.off, d.done)
	}
	if st.cur == nil {
		return string(b)
	}
	b = append(b, ';')
	b = appendPosHead(b, true, st.cur.id, st.cur.fp, st.cur.path)
	st.prefix = string(b)
	return withOffset(st.prefix, st.cur.off, st.cur.done)
}

// withOffset appends an offset to a cursor prefix in one allocation.
func withOffset(prefix string, off, done int64) string {
	var num [41]byte
	digits := appendOffset(num[:0], off, done)
	var sb strings.Builder
	sb.Grow(len(prefix) + len(digits))
	sb.WriteString(prefix)
	sb.Write(digits)
	return sb.String()
}

// run is the state of one call of Run.
type run struct {
	ctx     context.Context
	s       *Source
	out     chan<- sources.Line
	watcher *watcher

	streams   map[string]*stream
	open      map[identity]*file // every open file, so two paths never read one file
	postponed map[identity]string
	seen      map[identity]bool // files read in this run
	more      bool              // the last pass stopped before some file's end
}

func newRun(ctx context.Context, s *Source, out chan<- sources.Line) *run {
	return &run{
		ctx: ctx, s: s, out: out,
		streams:   map[string]*stream{},
		open:      map[identity]*file{},
		postponed: map[identity]string{},
		seen:      map[identity]bool{},
	}
}

// scan matches the patterns, starts new paths, follows rotations and reads.
func (r *run) scan(first bool) error {
	present := map[string]bool{}
	clear(r.postponed)
	for _, p := range r.s.expand() {
		present[p] = true
		if _, ok := r.streams[p]; ok {
			continue
		}
		if fi, err := os.Stat(p); err == nil && r.open[identityOf(fi)] != nil {
			// The same file under another path (a rotated name a glob also matches, a
			// link): it goes on under the path it was found at first.
			r.postponed[identityOf(fi)] = p
			continue
		}
		st := &stream{path: p}
		r.streams[p] = st
		if err := r.start(st, first); err != nil {
			return err
		}
	}
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		st := r.streams[p]
		if err := r.refresh(st); err != nil {
			return err
		}
		if err := r.readStream(st); err != nil {
			return err
		}
		if !present[p] && st.cur == nil && len(st.drains) == 0 {
			delete(r.streams, p)
			delete(r.s.last, p)
		}
	}
	r.watch()
	return nil
}

// keepPositions hands each stream's last cursor to the Source when the run ends, for
// the next Run to resume from.
func (r *run) keepPositions() {
	for p, st := range r.streams {
		if st.last != "" {
			r.s.last[p] = st.last
		}
	}
}

// readAll reads every stream without looking for rotations.
func (r *run) readAll() error {
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		if err := r.readStream(r.streams[p]); err != nil {
			return err
		}
	}
	return nil
}

// readChanged reads the streams whose files were written, as notifications tell,
// and those draining rotated files (a renamed file's events carry its new name).
func (r *run) readChanged() error {
	names, all := r.watcher.take()
	if all {
		return r.readAll()
	}
	r.more = false
	for _, p := range slices.Sorted(maps.Keys(r.streams)) {
		st := r.streams[p]
		if names[filepath.Clean(p)] || (st.cur != nil && names[st.cur.path]) || len(st.drains) > 0 {
			if err := r.readStream(st); err != nil {
				return err
			}
		}
	}
	return nil
}

// watch asks for wakeups from the directories of patterns and followed files.
func (r *run) watch() {
	for _, p := range r.s.cfg.Paths {
		if d := filepath.Dir(p); !hasMeta(d) {
			r.watcher.add(d)
		}
	}
	for _, st := range r.streams {
		r.watcher.add(filepath.Dir(st.path))
		if st.cur != nil {
			r.watcher.add(filepath.Dir(st.cur.path))
		}
	}
}

// start begins a path found by a scan: at its checkpoint when it has one, else where
// start_at says for paths found at start, and at the beginning for paths that
// appeared later.
func (r *run) start(st *stream, first bool) error {
	// A Run after a failed one goes on where this Source left the stream: after the
	// last line it sent (perhaps not checkpointed yet), or where it began reading.
	if pos, ok := r.s.last[st.path]; ok {
		if ps, err := decodePos(pos); err == nil {
			return r.resume(st, ps)
		}
	}
	if r.s.cp != nil {
		pos, ok, err := r.s.cp.Load(r.ctx, st.path)
		if err != nil {
			return fmt.Errorf("load checkpoint of %s: %w", st.path, err)
		}
		if ok {
			ps, err := decodePos(pos)
			if err == nil {
				return r.resume(st, ps)
			}
			r.s.log.Warn("unreadable checkpoint, starting over", zap.String("stream", st.path), zap.Error(err))
		}
	}
	at := sources.StartAtBeginning
	if first {
		at = r.s.cfg.startAt()
	}
	return r.openCurrent(st, at)
}

// refresh looks at what the stream's path leads to now. Another file there (a rename,
// a delete and recreate, a retargeted symlink) is a rotation: the old file is read to
// its end, kept draining for rotate_grace, and the new one is read from its beginning.
func (r *run) refresh(st *stream) error {
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
	return r.openCurrent(st, sources.StartAtBeginning)
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
	for _, fd := range findBetween(old.path, old.mtime, func(id identity) bool { return r.seen[id] || r.open[id] != nil }) {
		fl := r.newFile(st, fd, 0)
		fl.graceEnd = r.s.now()
		st.drains = append(st.drains, fl)
		r.s.log.Info("reading a rotated file passed by", zap.String("stream", st.path), zap.String("file", fd.path))
	}
	return nil
}

// openCurrent opens the file at the stream's path as its current file.
func (r *run) openCurrent(st *stream, at sources.StartAt) error {
	fd, ok := openIf(st.path, func(*os.File, os.FileInfo) bool { return true })
	if !ok {
		return nil
	}
	if fl := r.open[identityOf(fd.fi)]; fl != nil {
		fd.f.Close()
		if i := slices.Index(st.drains, fl); i >= 0 {
			// One of the stream's rotated files was moved back: it is current again.
			st.drains = slices.Delete(st.drains, i, i+1)
			st.cur, st.prefix = fl, ""
		}
		return nil // else another path follows this file
	}
	fd.path = realPath(st.path)
	var off int64
	if at == sources.StartAtEnd {
		off = fd.fi.Size()
	}
	st.cur, st.prefix = r.newFile(st, fd, off), ""
	st.last = st.pos(st.cur)
	r.s.log.Info("following file", zap.String("stream", st.path), zap.Int64("offset", off))
	return nil
}

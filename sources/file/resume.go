package file

import (
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// resume starts a stream from its checkpoint. Rotated files it names are found (by
// identity, where they were or renamed beside it) and finished first. The current
// file resumes at its offset when it is still the same file (device, inode and first
// bytes) and no shorter; truncated or rewritten in place it starts over, after what a
// copytruncate copy holds past the offset; replaced by another file, the old one is
// finished first and the new one read from its beginning.
func (r *run) resume(st *stream, ps []filePos) error {
	var cur *filePos
	for i := range ps {
		if ps[i].current {
			cur = &ps[i]
			continue
		}
		r.resumeDrain(st, ps[i])
	}
	if cur == nil {
		r.passedBy(st)
		return r.openCurrent(st, sources.StartAtBeginning)
	}
	fd, ok := openIf(st.path, func(*os.File, os.FileInfo) bool { return true })
	if !ok {
		r.resumeDrain(st, *cur) // the file went away while we were stopped
		r.passedBy(st)
		return nil
	}
	id := identityOf(fd.fi)
	if id != cur.id {
		fd.f.Close()
		r.resumeDrain(st, *cur)
		r.passedBy(st)
		r.s.rotations.WithLabelValues("rename").Inc()
		return r.openCurrent(st, sources.StartAtBeginning)
	}
	if r.open[id] != nil {
		fd.f.Close()
		return nil
	}
	fd.path = realPath(st.path)
	same, err := cur.fp.matches(fd.f)
	if err == nil && same && fd.fi.Size() >= cur.off {
		st.cur = r.newFile(st, fd, cur.off).resumeFrom(cur.done)
		r.s.log.Info("resuming file", zap.String("stream", st.path), zap.Int64("offset", cur.off))
		return nil
	}
	if cp, ok := findCopy(cur.path, id, cur.fp, cur.off); ok {
		fl := r.newFile(st, cp, cur.off).resumeFrom(cur.done)
		fl.graceEnd, fl.snapshot = r.s.now(), true
		st.drains = append(st.drains, fl)
	}
	st.cur = r.newFile(st, fd, 0)
	r.s.rotations.WithLabelValues("truncate").Inc()
	r.s.log.Info("file truncated or replaced while stopped, reading from its beginning", zap.String("stream", st.path))
	return nil
}

// resumeDrain finds a rotated file a checkpoint names and drains it from its offset.
func (r *run) resumeDrain(st *stream, p filePos) {
	fd, ok := findByIdentity(p, r.s.expand())
	if !ok {
		return
	}
	if r.open[identityOf(fd.fi)] != nil || fd.fi.Size() < p.off {
		fd.f.Close()
		return
	}
	fl := r.newFile(st, fd, p.off).resumeFrom(p.done)
	fl.graceEnd = r.s.now().Add(r.s.cfg.RotateGrace)
	st.drains = append(st.drains, fl)
	r.s.log.Info("finishing rotated file", zap.String("stream", st.path), zap.String("file", fd.path), zap.Int64("offset", p.off))
}

// passedBy drains, from their beginning, the generations rotated past while cowbell
// was stopped: files beside the newest file the checkpoint named, changed after it,
// that the checkpoint never saw (rotated twice while stopped, or rotated once more
// after a checkpoint taken before the first rotation was noticed).
func (r *run) passedBy(st *stream) {
	if len(st.drains) == 0 {
		return
	}
	last := st.drains[len(st.drains)-1]
	known := func(id identity) bool { return r.seen[id] || r.open[id] != nil }
	for _, fd := range findBetween(st.path, last.mtime, known) {
		fl := r.newFile(st, fd, 0)
		fl.graceEnd = r.s.now().Add(r.s.cfg.RotateGrace)
		st.drains = append(st.drains, fl)
		r.s.log.Info("reading a rotated file passed by while stopped", zap.String("stream", st.path), zap.String("file", fd.path))
	}
}

// realPath is where path leads, or path itself when that cannot be told.
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

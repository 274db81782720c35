package file

import (
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// A source keeps at most maxOpen files open (openCap): past it, the current files
// idle longest are closed ("parked"), with what reading on needs kept: the file's
// identity, fingerprint, anchor and offsets, but no descriptor and no read buffer. A
// parked file is opened again when inotify says it was written, or a scan sees it
// changed. Unchanged (same inode and birth, its first bytes and the bytes before its
// offset the same), it is read on at its offset; else whatever happened to it while
// closed (renamed, rotated, truncated, replaced) is followed as after a restart, from
// its cursor (resume): the same guarantees, as rotation while cowbell is stopped.

// openCap is the cap on a source's open files: max, and at most a quarter of the
// process's limit on descriptors, so that the rest of cowbell (its HTTP server, the
// store, /proc) always has some.
func openCap(n int) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur != unix.RLIM_INFINITY && lim.Cur/4 < uint64(max(n, 0)) { //nolint:gosec // n is not negative
		n = int(lim.Cur / 4) //nolint:gosec // less than n, an int
	}
	return max(n, minOpenFiles)
}

// taken reports whether a stream follows the file with this identity, open or
// parked.
func (r *run) taken(id identity) bool {
	return r.open[id] != nil || r.parked[id] != nil
}

// parkable reports whether the stream's current file can be closed and opened again
// later without losing what it holds: no partial record, no line being joined or
// carried, no rotated files draining.
func parkable(st *stream) bool {
	fl := st.cur
	return fl != nil && len(st.drains) == 0 && !fl.compressed && !fl.pinned && fl.done == 0 &&
		!fl.split.pending() && !fl.dec.joining()
}

// parkIdle closes the files idle longest while more than maxOpen are open, down to
// three quarters of it, so that it does not run at every open.
func (r *run) parkIdle() { r.parkAbove(r.maxOpen) }

// parkAbove parks files idle longest while more than limit are open.
func (r *run) parkAbove(limit int) {
	if len(r.open) <= limit {
		return
	}
	var idle []*stream
	for _, st := range r.streams {
		if parkable(st) {
			idle = append(idle, st)
		}
	}
	// Files at their end first, then by how long ago they were last read.
	slices.SortFunc(idle, func(a, b *stream) int {
		if a.cur.tailing != b.cur.tailing {
			if a.cur.tailing {
				return -1
			}
			return 1
		}
		return a.cur.lastData.Compare(b.cur.lastData)
	})
	target := min(limit, r.maxOpen*3/4)
	for _, st := range idle {
		if len(r.open) <= target {
			return
		}
		r.park(st)
	}
}

// parkedFile is what is kept of a closed idle file: enough to tell it is the same
// file with the same content when it is opened again, and its cursor for when not.
type parkedFile struct {
	path    string // its real path
	id      identity
	birth   int64
	fp      fingerprint
	at      anchor
	readOff int64
	mtime   time.Time
	pos     string // the stream's cursor when it was closed
}

// park closes the stream's current file, keeping what opening it again needs.
func (r *run) park(st *stream) {
	fl := st.cur
	fi, err := fl.f.Stat()
	behind := err != nil || fi.Size() > fl.readOff || !fl.tailing
	st.idle = &parkedFile{
		path: fl.path, id: fl.id, birth: fl.birth, fp: fl.fp, at: fl.at,
		readOff: fl.readOff, mtime: fl.mtime, pos: st.pos(fl),
	}
	fl.split.release()
	fl.f.Close()
	delete(r.open, fl.id)
	r.parked[fl.id] = st
	// The position of the last line sent shares its memory with that line's text
	// (lineAndPos): a parked stream keeps only the cursor.
	st.h.Moved(strings.Clone(st.h.Last()))
	st.cur, st.prefix = nil, ""
	if behind {
		r.behind = append(r.behind, st)
	}
	r.s.log.Debug("idle file closed", zap.String("stream", st.path), zap.Int("open", len(r.open)))
}

// idleChanged reports whether the stream's parked file may have something new: its
// path leads elsewhere or nowhere, or it changed size or modification time.
func (r *run) idleChanged(st *stream) bool {
	fi, err := os.Stat(st.path)
	fl := st.idle
	return err != nil || identityOf(fi) != fl.id || fi.Size() != fl.readOff || !fi.ModTime().Equal(fl.mtime)
}

// unpark opens the stream's parked file again: at its offset when it is the same
// file with the same content, else from its cursor, as a restart does.
func (r *run) unpark(st *stream) {
	r.parkAbove(r.maxOpen - 1) // room for it first
	p := st.idle
	st.idle = nil
	delete(r.parked, p.id)
	f, fi, rf := r.s.guard.open(st.path)
	if rf == nil && f != nil && identityOf(fi) == p.id && fi.Size() >= p.readOff {
		birth := birthOf(f)
		same, err := p.fp.matches(f)
		if sameBirth(birth, p.birth) && err == nil && same && (p.at.n == 0 || p.at.matches(f)) {
			st.cur, st.prefix = r.newFile(st, opened{c: f, path: p.path, fi: fi, birth: birth}, p.readOff), ""
			r.s.log.Debug("idle file opened again", zap.String("stream", st.path))
			return
		}
	}
	if f != nil {
		f.Close()
	}
	r.s.log.Debug("idle file changed while closed, resuming from its cursor", zap.String("stream", st.path))
	ps, err := decodePos(p.pos)
	if err != nil { // its own cursor: cannot be
		r.openCurrent(st, 0)
		return
	}
	r.resume(st, ps, time.Time{})
}

// readBehind opens again, while there is room, the files parked before their end, and
// reads them.
func (r *run) readBehind() error {
	for len(r.behind) > 0 && len(r.open) < r.maxOpen {
		st := r.behind[0]
		r.behind = r.behind[1:]
		if r.streams[st.path] != st || st.idle == nil {
			continue
		}
		r.unpark(st)
		if err := r.readStream(st); err != nil {
			return err
		}
	}
	if len(r.behind) == 0 {
		r.behind = nil
	}
	return nil
}

package file

import (
	"errors"
	"io"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/logtime"
)

// maxPass bounds how much of one file a pass reads before other files get a turn.
const maxPass = 4 << 20

// status is how a read of a file ended.
type status int

const (
	atEnd        status = iota // everything written so far was read
	hasMore                    // the pass limit came first
	wasTruncated               // the file is shorter than what was read, or begins differently
)

// file is one open file: where it was read to, its partial record and joins.
type file struct {
	st         *stream // the stream it belongs to
	f          content
	compressed bool   // a compressed generation, read decompressed; it does not change
	path       string // its real path when opened
	id         identity
	birth      int64       // statx birth time, 0 unknown
	fp         fingerprint // its first bytes
	at         anchor      // the last bytes read
	readOff    int64       // how far it was read
	off        int64       // where a restart resumes: after the last line sent, or at a half-joined line
	done       int64       // with off before it: where the lines already sent end (0: at off)
	decoded    bool        // a record was decoded since it was opened
	// pinned: the line it ended in the middle of goes on in the stream's next file
	// (carry); until that line is sent, a restart resumes this file at pin.
	pinned bool
	pin    int64
	// Lines ending at or before replayTo were read before a restart, at replayAt: a
	// plain line without a stamp of its own keeps that time when read again.
	replayTo int64
	replayAt time.Time

	split    splitter
	dec      decoder
	labels   map[string]string
	tmpl     map[string]map[string]string // labels by stream name, shared by its lines
	lastData time.Time                    // when a read last returned bytes
	mtime    time.Time                    // the modification time at the last end of file
	tailing  bool                         // the last read reached the end of the file
	graceEnd time.Time                    // a rotated file is closed once read to its end after this
	snapshot bool                         // a copy: its last bytes without a newline are a torn write
	readErr  bool                         // a read error was logged

	emit emitFunc
	skip skipFunc
}

// opened is a file opened for a stream: a plain file, or a compressed generation
// read through a decompressor.
type opened struct {
	c          content
	path       string
	fi         os.FileInfo
	birth      int64
	compressed bool
}

// plainFile is an opened plain file.
func plainFile(fd found) opened {
	return opened{c: fd.f, path: fd.path, fi: fd.fi, birth: birthOf(fd.f)}
}

// newFile starts reading an opened file at off on behalf of st.
func (r *run) newFile(st *stream, o opened, off int64) *file {
	c := &r.s.cfg
	fl := &file{
		st: st, f: o.c, path: o.path, id: identityOf(o.fi), birth: o.birth, compressed: o.compressed,
		readOff: off, off: off,
		split:    newSplitter(splitMax(c.Format, c.MaxLineBytes, c.rawMax())),
		dec:      newDecoder(c.Format, c.MaxLineBytes),
		lastData: r.s.now(),
		mtime:    o.fi.ModTime(),
		tmpl:     map[string]map[string]string{},
	}
	fl.dec.startAt(off, 0)
	size := o.fi.Size()
	if o.compressed {
		size = fpSize // its content is longer or the fingerprint reads what there is
	}
	fl.fp, _ = takeFingerprint(o.c, size)
	if off > 0 {
		fl.at, _ = takeAnchor(o.c, off)
	}
	if c.Format != FormatPlain {
		fl.labels = pathLabels(st.path, o.path, c.DockerRoot)
	}
	fl.emit = func(text []byte, t time.Time, stream string, cut bool, end int64) error {
		return r.emitLine(fl, text, t, stream, cut, end)
	}
	fl.skip = func(reason string, err error) {
		r.s.skipped.WithLabelValues(reason).Inc()
		r.s.log.Debug("record skipped", zap.String("stream", fl.st.path), zap.String("reason", reason), zap.Error(err))
	}
	r.open[fl.id] = fl
	if len(r.seen) >= maxSeen {
		clear(r.seen)
	}
	r.seen[fl.id] = seenFile{birth: fl.birth, fp: fl.fp}
	return fl
}

// readFile reads what was written to fl since the last read and sends its lines,
// up to limit bytes (0: to the end).
func (r *run) readFile(fl *file, limit int64) (status, error) {
	var total int64
	for limit == 0 || total < limit {
		buf := fl.split.space()
		n, err := fl.f.ReadAt(buf, fl.readOff)
		if n == 0 {
			fl.split.release() // kept only while it holds part of a record
			if err != nil && !errors.Is(err, io.EOF) && !fl.readErr {
				fl.readErr = true
				r.s.log.Warn("file read failed, will retry", zap.String("stream", fl.st.path), zap.Error(err))
			}
			return r.atEOF(fl), nil
		}
		fl.readErr = false
		if fl.tailing && !fl.compressed {
			// New bytes after the end: first make sure they follow what was read, for
			// copytruncate may have emptied the file and the writer filled it again.
			if same, ferr := fl.fp.matches(fl.f); ferr == nil && !same {
				return wasTruncated, nil
			}
		}
		fl.tailing = err != nil
		fl.split.commit(n)
		fl.readOff += int64(n)
		fl.at = anchorOf(fl.split.tail(), fl.readOff)
		total += int64(n)
		r.s.bytesRead.Add(float64(n))
		fl.lastData = r.s.now()
		if fl == fl.st.cur {
			fl.st.prefix = "" // the cursor carries the anchor and the read time
		}
		r.growFingerprint(fl, fl.readOff)
		r.chunk = fl.split.chunk()
		err = r.records(fl)
		r.chunk = chunk{}
		if err != nil {
			return atEnd, err
		}
		// The read's lines go over together, at once: a line never waits for another
		// read to fill a batch.
		if err := r.em.Flush(r.ctx); err != nil {
			return atEnd, err
		}
	}
	return hasMore, nil
}

// atEOF checks a file that has nothing more to read for truncation and completes
// its fingerprint while it is short.
func (r *run) atEOF(fl *file) status {
	if fl.compressed {
		fl.tailing = true
		return atEnd
	}
	fi, err := fl.f.Stat()
	if err != nil {
		return atEnd
	}
	if fi.Size() < fl.readOff {
		return wasTruncated
	}
	fl.tailing, fl.mtime = true, fi.ModTime()
	r.growFingerprint(fl, fl.readOff)
	return atEnd
}

// growFingerprint takes more of a short file's first bytes, up to size, into its
// fingerprint. size is never past what was read: bytes written after the last read
// may belong to a file that copytruncate emptied and its writer filled again, and a
// fingerprint taken over them would hide that. It grows only while the file still
// begins as the fingerprint says; when it does not, the next read finds the
// truncation.
func (r *run) growFingerprint(fl *file, size int64) {
	if fl.fp.n < fpSize && size > int64(fl.fp.n) && !fl.compressed {
		if fp, ok, err := fl.fp.extend(fl.f, size); err == nil && ok {
			fl.fp, fl.st.prefix = fp, ""
		}
	}
}

// records sends the complete records read so far.
func (r *run) records(fl *file) error {
	for {
		rec, cut, ok := fl.split.next()
		if !ok {
			return nil
		}
		end := fl.readOff - int64(fl.split.held())
		fl.decoded = true
		read := fl.lastData
		if end <= fl.replayTo {
			read = fl.replayAt
		}
		if err := fl.dec.record(rec, cut, end, read, fl.emit, fl.skip); err != nil {
			return err
		}
	}
}

// flushDue sends a partial last line (and lines still being joined) once nothing was
// written for flush_timeout, or at once when force is set.
func (r *run) flushDue(fl *file, force bool) error {
	if !fl.split.pending() && !fl.dec.joining() {
		return nil
	}
	now := r.s.now()
	if !force && (!fl.tailing || now.Sub(fl.lastData) < r.s.cfg.FlushTimeout) {
		return nil
	}
	if rec, cut, ok := fl.split.flush(); ok {
		if err := fl.dec.record(rec, cut, fl.readOff, now, fl.emit, fl.skip); err != nil {
			return err
		}
	}
	if err := fl.dec.flush(fl.readOff, fl.emit); err != nil {
		return err
	}
	return r.em.Flush(r.ctx)
}

// maxAhead is how far past its read time a plain line's stamp may lie before it is
// distrusted (a wrong time_zone, or the writer's clock): the line keeps its read time.
const maxAhead = time.Minute

// stampTime returns the time a plain line's own stamp gives, when it names its zone
// or time_zone says which it is in, and else the time the line was read.
func (s *Source) stampTime(text string, read time.Time) (time.Time, bool) {
	loc := s.loc
	if loc == nil {
		// Only stamps that name their zone are used, and each of those starts
		// with a year: "2025-".
		if len(text) < 5 || text[4] != '-' {
			return read, false
		}
		loc = time.UTC
	}
	t, zoned, ok := logtime.ParseZone(text, loc, read)
	if !ok || !zoned && s.loc == nil || t.After(read.Add(maxAhead)) {
		return read, false
	}
	return t, true
}

// emitLine adds one line of fl, with the stream's cursor after it, to the read's
// batch (r.em): the read that emits it flushes it.
func (r *run) emitLine(fl *file, text []byte, t time.Time, stream string, cut bool, end int64) error {
	st := fl.st
	fl.off, fl.done = end, 0
	if start, ok := fl.dec.pending(); ok { // another stream's line is half joined
		fl.off, fl.done = start, end
	}
	if fl.pinned && fl.pin < fl.off { // a line it ended in the middle of is not sent yet
		fl.off, fl.done = fl.pin, max(end, fl.done)
	}
	if fl != st.cur {
		st.prefix = ""
	}
	s := r.chunk.text(text)
	if cut {
		s += cutMark
		r.s.linesCut.Inc()
	}
	format := fl.dec.format()
	stamped := format.stamped()
	if format.stampInText() {
		t, stamped = r.s.stampTime(s, t)
	}
	l := sources.Line{
		Text:   s,
		Time:   t,
		Labels: lineLabels(fl.labels, format, stream, fl.tmpl, fl.dec.recLabels),
		Cursor: st.cursor(fl),
	}
	r.em.Add(st.h, &l, stamped)
	if r.em.Len() >= batchLines {
		return r.em.Flush(r.ctx)
	}
	return nil
}

// batchLines bounds the lines of one batch: a read of short lines goes over in
// several, so that what waits for the pipeline stays as small as lines of one read
// would.
const batchLines = 256

// readStream reads the stream's rotated files, then its current one. A truncation
// of the current file (copytruncate) first reads what its copy holds past the offset,
// then the file from its beginning.
func (r *run) readStream(st *stream) error {
	for range 4 {
		if err := r.readDrains(st); err != nil {
			return err
		}
		if st.cur == nil {
			return nil
		}
		s, err := r.readFile(st.cur, maxPass)
		switch {
		case err != nil:
			return err
		case s == hasMore:
			r.more = true
			return nil
		case s == atEnd:
			return r.flushDue(st.cur, false)
		}
		r.truncated(st, st.cur)
	}
	return nil
}

// readDrains reads the rotated files and closes those read to their end after their
// grace period. A rotated file found truncated starts over after its copy.
func (r *run) readDrains(st *stream) error {
	for i, restarts := 0, 0; i < len(st.drains); {
		fl := st.drains[i]
		s, err := r.readFile(fl, maxPass)
		switch {
		case err != nil:
			return err
		case s == hasMore:
			r.more = true
			i++
			continue
		case s == wasTruncated && restarts < len(st.drains)+4:
			restarts++
			r.truncated(st, fl) // its copy, if any, now sits at i
			continue
		case s == atEnd && (fl.pinned || r.carry(st, i)):
			i++ // kept until the line it ended in the middle of is sent
			continue
		case s == atEnd && r.s.now().Before(fl.graceEnd):
			if err := r.flushDue(fl, false); err != nil {
				return err
			}
			i++
			continue
		case s == atEnd && fl.snapshot && (fl.split.pending() || fl.dec.joining()):
			// copytruncate copied a line half written; the writer's whole line was
			// truncated away with the rest.
			fl.skip(reasonTorn, nil)
		case s == atEnd:
			if err := r.flushDue(fl, true); err != nil {
				return err
			}
		}
		st.drains = slices.Delete(st.drains, i, i+1)
		st.prefix = ""
		r.closeDrain(fl)
	}
	return nil
}

// truncated restarts fl, the stream's current or a rotated file, from its beginning,
// after the copy copytruncate left of it, when one is found, from the offset on: the
// copy goes into the drained files just before fl (or last, for the current file).
func (r *run) truncated(st *stream, fl *file) {
	if g := r.findCopy(fl); g != nil {
		cp := r.newFile(st, g.opened(), fl.off).resumeFrom(fl.done)
		cp.graceEnd, cp.snapshot = r.s.now(), true
		i := slices.Index(st.drains, fl)
		if i < 0 {
			i = len(st.drains)
		}
		st.drains = slices.Insert(st.drains, i, cp)
		r.s.log.Info("reading the copy of a truncated file", zap.String("stream", st.path), zap.String("file", g.path))
	}
	fl.split.reset()
	fl.dec.reset()
	fl.readOff, fl.off, fl.done, fl.fp, fl.at, fl.tailing = 0, 0, 0, fingerprint{}, anchor{}, false
	if fl.birth != 0 {
		r.seen[fl.id] = seenFile{birth: fl.birth} // the same file, other content
	}
	st.prefix = ""
	r.s.rotations.WithLabelValues("truncate").Inc()
	r.s.log.Info("file truncated", zap.String("stream", st.path))
}

// findCopy finds the copy that copytruncate made of fl before truncating it: a file
// beside it, plain or compressed, that holds what fl held up to where it was read and
// has a line ending at fl's offset. The newest such file wins.
func (r *run) findCopy(fl *file) *generation {
	if fl.fp.n == 0 {
		return nil
	}
	want := &filePos{fp: fl.fp, at: fl.at, off: fl.readOff}
	gens := r.findGenerations([]string{fl.path})
	defer closeGenerations(gens)
	for _, g := range slices.Backward(gens) {
		if g.stem || g.id == fl.id || r.open[g.id] != nil || !g.holds(want) || !g.atLeast(fl.off) || !endsLine(g.c, fl.off) {
			continue
		}
		g.taken = true
		return g
	}
	return nil
}

// closeDrain closes a drained file, or hands it to a path a glob matched that was
// held back because this file was open under the old path.
func (r *run) closeDrain(fl *file) {
	delete(r.open, fl.id)
	if p, ok := r.postponed[fl.id]; ok && r.streams[p] == nil {
		delete(r.postponed, fl.id)
		st := &stream{path: p, cur: fl}
		fl.st, fl.graceEnd, fl.path = st, time.Time{}, realPath(p)
		r.open[fl.id], r.streams[p] = fl, st
		r.s.log.Info("file goes on under another path", zap.String("stream", p))
		return
	}
	fl.f.Close()
	fl.split.release()
}

// closeAll closes every open file.
func (r *run) closeAll() {
	for _, fl := range r.open {
		fl.f.Close()
	}
	clear(r.open)
}

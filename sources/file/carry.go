package file

import "go.uber.org/zap"

// carry hands the lines drains[i], read to its end, ends in the middle of to the
// stream's next file, when nothing of that file was decoded yet: container runtimes
// split long lines into pieces (CRI P records, Docker logs without a newline), and a
// rotation can fall between two pieces. The drained file stays, pinned, until the
// line is sent, so a restart before resumes it at the line's first piece.
func (r *run) carry(st *stream, i int) bool {
	fl := st.drains[i]
	start, ok := fl.dec.pending()
	if !ok || fl.split.pending() || fl.snapshot {
		return false
	}
	next := st.cur
	if i+1 < len(st.drains) {
		next = st.drains[i+1]
	}
	if next == nil || next.decoded {
		return false
	}
	fl.pinned, fl.pin = true, start
	fl.off, fl.done = start, max(fl.readOff, fl.done)
	next.dec.carry(&fl.dec, func() { r.unpin(fl) })
	st.prefix = ""
	r.s.log.Debug("line goes on in the next file", zap.String("stream", st.path), zap.String("file", fl.path))
	return true
}

// unpin releases a file whose carried line was sent: it resumes after its end.
func (r *run) unpin(fl *file) {
	fl.pinned = false
	if start, ok := fl.dec.pending(); ok {
		fl.off = start
	} else {
		fl.off, fl.done = max(fl.off, fl.done), 0
	}
	fl.st.prefix = ""
}

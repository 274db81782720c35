package file

import "time"

// emitFunc passes on one decoded line that ends at file offset end. text is only
// valid during the call; cut says it was longer than the cap and was cut.
type emitFunc func(text []byte, t time.Time, stream string, cut bool, end int64) error

// skipFunc is told about a record that could not be decoded.
type skipFunc func(reason string, err error)

// join collects the pieces of one stream's split line.
type join struct {
	active bool
	stream string
	start  int64     // file offset of the first piece's record; -1: none in this file yet
	t      time.Time // the first piece's time
	buf    []byte
	cut    bool
	// release, for a line carried over from the previous file, is called once the
	// line is sent (or given up): that file need not be read again for it.
	release func()
}

// decoder turns records into lines: it detects the format (when auto), decodes
// container records and joins their pieces, and cuts lines at max bytes.
type decoder struct {
	conf  Format // as configured; auto detects per file
	fmt   Format // as detected; auto until the first non-empty record
	max   int
	joins [2]join // stdout, other streams: Docker interleaves their pieces
	end   int64   // file offset after the last record decoded

	// After a restart at a cursor taken while one stream's line was half joined,
	// reading starts at that line's first piece: until done, only that stream's
	// pieces are joined again; the other stream's records were sent already.
	done       int64
	doneStream string // the stream being joined again; "" until its first record

	// A structured format's record in the making (a csvlog record spanning lines),
	// where it starts, and the labels of the record last decoded
	// (decode_structured.go).
	partial      []byte
	partialStart int64
	recLabels    map[string]string
}

func newDecoder(f Format, max int) decoder {
	return decoder{conf: f, fmt: f, max: max}
}

// reset forgets the detected format and any pieces (the file was truncated).
func (d *decoder) reset() {
	d.fmt = d.conf
	for i := range d.joins {
		d.joins[i].active = false
		d.joins[i].releaseCarried()
	}
	d.end, d.done, d.doneStream = 0, 0, ""
	d.partial = d.partial[:0]
}

// releaseCarried tells the file a carried line came from that it was sent or given up.
func (j *join) releaseCarried() {
	if j.release != nil {
		j.release()
		j.release = nil
	}
}

// carry takes over the lines src (the stream's previous file, read to its end) was
// joining: their next pieces are this file's first records of their streams. release
// is called once each has been sent.
func (d *decoder) carry(src *decoder, release func()) {
	if d.fmt == FormatAuto {
		d.fmt = src.fmt
	}
	for i := range src.joins {
		j := &src.joins[i]
		if !j.active {
			continue
		}
		d.joins[i] = join{
			active: true, stream: j.stream, start: -1, t: j.t, cut: j.cut,
			buf: append(d.joins[i].buf[:0], j.buf...), release: release,
		}
		j.active = false
	}
}

// startAt places the decoder at file offset off; done (0: none) is where the records
// already sent end, as a cursor from pending says.
func (d *decoder) startAt(off, done int64) {
	d.end, d.done, d.doneStream = off, 0, ""
	if done > off {
		d.done = done
	}
}

// pending reports where the earliest line still being joined starts: a cursor taken
// now must resume there, not after the last line sent, or a restart would lose the
// pieces read so far.
func (d *decoder) pending() (start int64, ok bool) {
	for _, j := range d.joins {
		if j.active && j.start >= 0 && (!ok || j.start < start) {
			start, ok = j.start, true
		}
	}
	return start, ok
}

// format reports the file's format, FormatAuto while undetected.
func (d *decoder) format() Format { return d.fmt }

// record decodes one record (read at now, ending at end) and emits the lines it
// completes.
func (d *decoder) record(rec []byte, cut bool, end int64, now time.Time, emit emitFunc, skip skipFunc) error {
	start := d.end
	d.end = end
	if d.fmt == FormatAuto && len(rec) > 0 && !cut {
		d.fmt = detect(rec)
	}
	if d.fmt.structured() {
		return d.structuredRecord(rec, cut, start, end, now, emit, skip)
	}
	switch d.fmt {
	case FormatDocker, FormatCRI:
		if cut {
			skip(reasonTooLong, nil)
			return nil
		}
		decode, reason := decodeDocker, reasonDocker
		if d.fmt == FormatCRI {
			decode, reason = decodeCRI, reasonCRI
		}
		msg, stream, t, partial, err := decode(rec)
		if err != nil {
			skip(reason, err)
			return nil
		}
		if d.done > 0 {
			if end > d.done {
				d.done, d.doneStream = 0, ""
			} else {
				if d.doneStream == "" {
					d.doneStream = stream
				}
				if stream != d.doneStream {
					return nil // sent before the restart
				}
			}
		}
		return d.piece(msg, stream, t, partial, start, end, emit)
	}
	if len(rec) > d.max {
		rec, cut = rec[:d.max], true
	}
	return emit(cleanRecord(rec), now, "", cut, end)
}

// piece adds one decoded record (from start to end in the file) to its stream's line;
// a full record ends the line.
func (d *decoder) piece(msg []byte, stream string, t time.Time, partial bool, start, end int64, emit emitFunc) error {
	j := &d.joins[0]
	if stream != "stdout" {
		j = &d.joins[1]
	}
	if !j.active && !partial {
		cut := len(msg) > d.max
		if cut {
			msg = msg[:d.max]
		}
		return emit(clean(msg, true), t, stream, cut, end)
	}
	if !j.active {
		*j = join{active: true, stream: stream, start: start, t: t, buf: j.buf[:0]}
	} else if j.start < 0 {
		j.start = start // the first piece in this file of a line carried over
	}
	if room := d.max - len(j.buf); len(msg) > room {
		msg, j.cut = msg[:max(room, 0)], true
	}
	j.buf = append(j.buf, msg...)
	if partial {
		return nil
	}
	return d.finish(j, end, emit)
}

// finish emits a joined line.
func (d *decoder) finish(j *join, end int64, emit emitFunc) error {
	j.active = false
	j.releaseCarried()
	return emit(clean(j.buf, true), j.t, j.stream, j.cut, end)
}

// joining reports whether pieces wait for the end of their line.
func (d *decoder) joining() bool {
	return d.joins[0].active || d.joins[1].active
}

// flush emits the lines still being joined, as far as they came.
func (d *decoder) flush(end int64, emit emitFunc) error {
	for i := range d.joins {
		if j := &d.joins[i]; j.active {
			if err := d.finish(j, end, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitMax is the record cap for a configured format: container records carry escaping
// and a prefix, so their cap is larger; the decoder cuts the message at maxLine.
func splitMax(f Format, maxLine, rawMax int) int {
	if f == FormatPlain {
		return maxLine
	}
	return rawMax
}

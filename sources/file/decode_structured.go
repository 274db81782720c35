package file

import (
	"bytes"
	"maps"
	"time"
)

// Formats whose records carry the message in a field, decoded by this package the way
// Docker and CRI records are: the rules see the message, the record's own time is the
// line's time.
const (
	// FormatPostgresCSV is PostgreSQL's csvlog destination: one CSV record a log
	// event, quoted fields spanning lines when the message or statement holds a
	// newline.
	FormatPostgresCSV Format = "csvlog"
	// FormatPostgresJSON is PostgreSQL's jsonlog destination (15+): one JSON object a
	// line.
	FormatPostgresJSON Format = "jsonlog"
	// FormatJournalJSON is `journalctl -o json` written to a file: one JSON object an
	// entry, the message in MESSAGE and the time in __REALTIME_TIMESTAMP.
	FormatJournalJSON Format = "journal-json"
)

// Reasons a structured record is skipped.
const (
	reasonCSVLog  = "csvlog"
	reasonJSONLog = "jsonlog"
	reasonJournal = "journal_json"
)

// structured reports whether f is one of the formats above.
func (f Format) structured() bool {
	return f == FormatPostgresCSV || f == FormatPostgresJSON || f == FormatJournalJSON
}

// stamped reports whether a line of format f takes its time from the record (a
// container's or a journal entry's own time).
func (f Format) stamped() bool {
	return f == FormatDocker || f == FormatCRI || f == FormatJournalJSON
}

// stampInText reports whether a line of format f starts with its own time stamp,
// which time_zone may qualify: plain text, and PostgreSQL's records written in the
// stderr layout.
func (f Format) stampInText() bool {
	return f == FormatPlain || f == FormatPostgresCSV || f == FormatPostgresJSON
}

// decoded is what one structured record gives: the lines it holds, in the order
// PostgreSQL's stderr log would show them, their time and their labels.
type decoded struct {
	lines  [][]byte
	t      time.Time
	labels map[string]string
}

// structuredRecord decodes one physical line of a structured format and emits the
// lines of every record it completes. A csvlog record may span physical lines (a
// quoted field holding a newline): the lines wait in partial until the record's
// quotes balance. Every line of a record but the last carries the record's start as
// its end, so a restart between them reads the record again rather than losing its
// last lines.
func (d *decoder) structuredRecord(rec []byte, cut bool, start, end int64, now time.Time, emit emitFunc, skip skipFunc) error {
	reason := map[Format]string{FormatPostgresCSV: reasonCSVLog, FormatPostgresJSON: reasonJSONLog, FormatJournalJSON: reasonJournal}[d.fmt]
	if cut {
		d.partial = d.partial[:0]
		skip(reasonTooLong, nil)
		return nil
	}
	var out decoded
	var err error
	switch d.fmt {
	case FormatPostgresCSV:
		if len(d.partial) == 0 {
			d.partialStart = start
		} else {
			d.partial = append(d.partial, '\n')
		}
		d.partial = append(d.partial, rec...)
		if bytes.Count(d.partial, []byte{'"'})%2 == 1 { // a quoted field goes on
			if len(d.partial) > 4*d.max {
				d.partial = d.partial[:0]
				skip(reasonTooLong, nil)
			}
			return nil
		}
		start = d.partialStart
		out, err = decodeCSVLog(d.partial, now)
		d.partial = d.partial[:0]
	case FormatPostgresJSON:
		out, err = decodeJSONLog(rec, now)
	case FormatJournalJSON:
		out, err = decodeJournalJSON(rec)
	}
	if err != nil {
		skip(reason, err)
		return nil
	}
	d.recLabels = out.labels
	for i, l := range out.lines {
		at := start
		if i == len(out.lines)-1 {
			at = end
		}
		l = clean(l, true)
		lineCut := len(l) > d.max
		if lineCut {
			l = l[:d.max]
		}
		if err := emit(l, out.t, "", lineCut, at); err != nil {
			return err
		}
	}
	return nil
}

// detectStructured tells whether a first record is one of the structured formats.
func detectStructured(record []byte) (Format, bool) {
	if len(record) > 0 && record[0] == '{' {
		if _, err := decodeJournalJSON(record); err == nil {
			return FormatJournalJSON, true
		}
		if _, err := decodeJSONLog(record, time.Time{}); err == nil {
			return FormatPostgresJSON, true
		}
		return "", false
	}
	if csvLogStart(record) {
		return FormatPostgresCSV, true
	}
	return "", false
}

// recordLabels is a structured line's labels: its record's, with the path's (a
// container log's) where the record has none of its own.
func recordLabels(base, rec map[string]string) map[string]string {
	if len(base) == 0 {
		return rec
	}
	l := make(map[string]string, len(base)+len(rec))
	maps.Copy(l, base)
	maps.Copy(l, rec)
	return l
}

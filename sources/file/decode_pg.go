package file

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cowbell-sidecar/cowbell/sources/logtime"
)

// PostgreSQL's csvlog and jsonlog carry an event's message, detail, hint, context and
// statement in separate fields (src/backend/utils/error/csvlog.c and jsonlog.c), so
// "ERROR:  out of memory" never appears as text. The decoders write each record the
// way the stderr destination would with Debian's log_line_prefix ('%m [%p] %q%u@%d '):
// one line for the message and one for each of DETAIL, HINT, QUERY, CONTEXT and
// STATEMENT that the record holds, so the pack's patterns read them alike.

// csvlog field positions (PostgreSQL 9.0 to 17; 13 added backend_type, 14 leader_pid
// and query_id at the end).
const (
	csvTime = iota
	csvUser
	csvDatabase
	csvPID
	csvRemote
	csvSession
	csvLineNum
	csvCommandTag
	csvSessionStart
	csvVXID
	csvTXID
	csvSeverity
	csvState
	csvMessage
	csvDetail
	csvHint
	csvInternalQuery
	csvInternalPos
	csvContext
	csvQuery
	csvFields = csvMessage + 1 // the fewest fields a record may have
)

var (
	errCSVShort    = errors.New("fewer fields than a csvlog record has")
	errJSONLogKeys = errors.New("not a jsonlog record: no timestamp, error_severity or message")
)

// pgEvent is one PostgreSQL log event, whichever destination wrote it.
type pgEvent struct {
	time, user, db, pid, severity              string
	message, detail, hint, query, context, sql string
}

// DecodeCSVLog decodes one complete csvlog record (which may hold newlines inside
// quoted fields) into the lines the stderr log would show, their time (the record's
// log_time when it names a zone, else read) and labels. No line holds a newline.
func DecodeCSVLog(record []byte, read time.Time) (lines [][]byte, t time.Time, labels map[string]string, err error) {
	d, err := decodeCSVLog(record, read)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	for i := range d.lines {
		d.lines[i] = clean(d.lines[i], true)
	}
	return d.lines, d.t, d.labels, nil
}

// DecodeJSONLog decodes one jsonlog record as DecodeCSVLog does a csvlog one.
func DecodeJSONLog(record []byte, read time.Time) (lines [][]byte, t time.Time, labels map[string]string, err error) {
	d, err := decodeJSONLog(record, read)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	for i := range d.lines {
		d.lines[i] = clean(d.lines[i], true)
	}
	return d.lines, d.t, d.labels, nil
}

func decodeCSVLog(record []byte, read time.Time) (decoded, error) {
	r := csv.NewReader(bytes.NewReader(record))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	f, err := r.Read()
	if err != nil {
		return decoded{}, fmt.Errorf("decode csvlog record: %w", err)
	}
	if len(f) < csvFields {
		return decoded{}, fmt.Errorf("decode csvlog record: %w (%d)", errCSVShort, len(f))
	}
	field := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	ev := pgEvent{
		time: f[csvTime], user: f[csvUser], db: f[csvDatabase], pid: f[csvPID],
		severity: f[csvSeverity], message: f[csvMessage], detail: field(csvDetail),
		hint: field(csvHint), query: field(csvInternalQuery), context: field(csvContext),
		sql: field(csvQuery),
	}
	return ev.decoded(read)
}

// jsonLogRecord is the part of a jsonlog record cowbell reads.
type jsonLogRecord struct {
	Timestamp     *string     `json:"timestamp"`
	User          string      `json:"user"`
	DBName        string      `json:"dbname"`
	PID           json.Number `json:"pid"`
	ErrorSeverity *string     `json:"error_severity"`
	Message       *string     `json:"message"`
	Detail        string      `json:"detail"`
	Hint          string      `json:"hint"`
	InternalQuery string      `json:"internal_query"`
	Context       string      `json:"context"`
	Statement     string      `json:"statement"`
}

func decodeJSONLog(record []byte, read time.Time) (decoded, error) {
	var j jsonLogRecord
	if err := json.Unmarshal(record, &j); err != nil {
		return decoded{}, fmt.Errorf("decode jsonlog record: %w", err)
	}
	if j.Timestamp == nil || j.ErrorSeverity == nil || j.Message == nil {
		return decoded{}, errJSONLogKeys
	}
	ev := pgEvent{
		time: *j.Timestamp, user: j.User, db: j.DBName, pid: j.PID.String(),
		severity: *j.ErrorSeverity, message: *j.Message, detail: j.Detail, hint: j.Hint,
		query: j.InternalQuery, context: j.Context, sql: j.Statement,
	}
	return ev.decoded(read)
}

// decoded writes the event in the stderr layout.
func (ev pgEvent) decoded(read time.Time) (decoded, error) {
	if ev.severity == "" {
		return decoded{}, errors.New("decode postgres record: no severity")
	}
	var prefix bytes.Buffer
	prefix.WriteString(ev.time)
	if ev.pid != "" {
		prefix.WriteString(" [" + ev.pid + "]")
	}
	prefix.WriteByte(' ')
	if ev.user != "" || ev.db != "" {
		prefix.WriteString(ev.user + "@" + ev.db + " ")
	}
	line := func(tag, text string) []byte {
		b := make([]byte, 0, prefix.Len()+len(tag)+3+len(text))
		b = append(b, prefix.Bytes()...)
		b = append(b, tag...)
		b = append(b, ":  "...)
		return append(b, text...)
	}
	d := decoded{t: read, lines: [][]byte{line(ev.severity, ev.message)}}
	for _, extra := range []struct{ tag, text string }{
		{"DETAIL", ev.detail}, {"HINT", ev.hint}, {"QUERY", ev.query},
		{"CONTEXT", ev.context}, {"STATEMENT", ev.sql},
	} {
		if extra.text != "" {
			d.lines = append(d.lines, line(extra.tag, extra.text))
		}
	}
	if t, zoned, ok := logtime.ParseZone(ev.time, time.UTC, read); ok && zoned {
		d.t = t
	}
	// No labels: like a plain line, the line's time is in its text, where the
	// source's time_zone (and replay's --time-zone) qualify a zone it cannot read.
	return d, nil
}

// csvLogStart reports whether a line starts a csvlog record: a log_time
// ("2024-06-05 10:00:00.123 UTC") followed by a comma, and at least the commas of the
// fields before the message. The stderr layout has no comma after its stamp.
func csvLogStart(b []byte) bool {
	const stamp = len("2006-01-02 15:04:05")
	if len(b) < stamp+3 {
		return false
	}
	for i, c := range b[:stamp] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	rest := b[stamp:]
	if rest[0] == '.' { // milliseconds
		rest = rest[1:]
		for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			rest = rest[1:]
		}
	}
	if len(rest) < 2 || rest[0] != ' ' { // a zone: "UTC", "CEST", "+02"
		return false
	}
	zone, _, ok := bytes.Cut(rest[1:], []byte{','})
	if !ok || len(zone) == 0 || bytes.ContainsAny(zone, " \t\"") {
		return false
	}
	return bytes.Count(b, []byte{','}) >= csvMessage
}

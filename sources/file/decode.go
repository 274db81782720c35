package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Reasons a record is skipped, the reason label of LinesSkipped.
const (
	reasonDocker  = "docker_json"
	reasonCRI     = "cri_format"
	reasonTooLong = "record_too_long"
	reasonTorn    = "torn_copy"
)

var (
	errNoStream = errors.New("no stream")
	errCRIShort = errors.New("want <time> <stream> <P|F> <message>")
	errCRITag   = errors.New("tag is neither P nor F")
)

// dockerRecord is one line of Docker's json-file log driver.
type dockerRecord struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// DecodeDockerJSON decodes one record of Docker's json-file log driver
// ({"log":"...\n","stream":"stdout","time":"<RFC 3339>"}). A log without its trailing
// newline is a piece of a line Docker split at 16 KiB: partial is true and the next
// records continue it. msg holds no newline and is valid UTF-8.
func DecodeDockerJSON(record []byte) (msg []byte, stream string, t time.Time, partial bool, err error) {
	msg, stream, t, partial, err = decodeDocker(record)
	if err != nil {
		return nil, "", time.Time{}, false, err
	}
	return clean(msg, !partial), stream, t, partial, nil
}

// DecodeCRI decodes one record of the CRI log format kubelet and container runtimes
// write (<RFC 3339 nano> <stdout|stderr> <P|F> <message>). A P record is a piece of a
// line continued by the next records up to an F one. msg holds no newline and is valid
// UTF-8.
func DecodeCRI(record []byte) (msg []byte, stream string, t time.Time, partial bool, err error) {
	msg, stream, t, partial, err = decodeCRI(record)
	if err != nil {
		return nil, "", time.Time{}, false, err
	}
	return clean(msg, !partial), stream, t, partial, nil
}

// decodeDocker is DecodeDockerJSON without cleaning msg; pieces are cleaned once joined.
func decodeDocker(record []byte) (msg []byte, stream string, t time.Time, partial bool, err error) {
	var r dockerRecord
	if err := json.Unmarshal(record, &r); err != nil {
		return nil, "", t, false, fmt.Errorf("decode docker json-file record: %w", err)
	}
	if r.Stream == "" {
		return nil, "", t, false, fmt.Errorf("decode docker json-file record: %w", errNoStream)
	}
	t, err = time.Parse(time.RFC3339Nano, r.Time)
	if err != nil {
		return nil, "", t, false, fmt.Errorf("decode docker json-file record time: %w", err)
	}
	log := r.Log
	partial = len(log) == 0 || log[len(log)-1] != '\n'
	if !partial {
		log = log[:len(log)-1]
	}
	return []byte(log), streamName(r.Stream), t, partial, nil
}

// decodeCRI is DecodeCRI without cleaning msg; msg points into record.
func decodeCRI(record []byte) (msg []byte, stream string, t time.Time, partial bool, err error) {
	ts, rest, ok := bytes.Cut(record, []byte{' '})
	if !ok {
		return nil, "", t, false, fmt.Errorf("decode cri record: %w", errCRIShort)
	}
	st, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return nil, "", t, false, fmt.Errorf("decode cri record: %w", errCRIShort)
	}
	tag, msg, _ := bytes.Cut(rest, []byte{' '})
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i] // further tags may follow the first, separated by ':'
	}
	switch string(tag) {
	case "P":
		partial = true
	case "F":
	default:
		return nil, "", t, false, fmt.Errorf("decode cri record: %w", errCRITag)
	}
	switch string(st) {
	case "stdout":
		stream = "stdout"
	case "stderr":
		stream = "stderr"
	default:
		return nil, "", t, false, fmt.Errorf("decode cri record: unknown stream %q", clean(st, false))
	}
	t, err = time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return nil, "", t, false, fmt.Errorf("decode cri record time: %w", err)
	}
	return msg, stream, t, partial, nil
}

// streamName returns the usual stream names without keeping the decoded string alive.
func streamName(s string) string {
	switch s {
	case "stdout":
		return "stdout"
	case "stderr":
		return "stderr"
	}
	return s
}

// clean makes b safe to pass on: a final "\r" goes when last says b ends a line, any
// newline inside becomes a space (Docker and kubelet never write one; a hand-edited
// file may) and invalid UTF-8 becomes U+FFFD. b is returned as is when already clean.
func clean(b []byte, last bool) []byte {
	if last && len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	hasNL := bytes.IndexByte(b, '\n') >= 0
	if !hasNL && utf8.Valid(b) {
		return b
	}
	if hasNL {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte{' '})
		b = bytes.ReplaceAll(b, []byte{'\n'}, []byte{' '})
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// cleanRecord is clean(b, true) for a record the splitter cut at its newline, which
// holds none: it is not looked through for one.
func cleanRecord(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// detect tells a record's format: Docker json-file, CRI or plain text.
func detect(record []byte) Format {
	if len(record) > 0 && record[0] == '{' {
		if _, _, _, _, err := decodeDocker(record); err == nil {
			return FormatDocker
		}
	}
	if _, _, _, _, err := decodeCRI(record); err == nil {
		return FormatCRI
	}
	if f, ok := detectStructured(record); ok {
		return f
	}
	return FormatPlain
}

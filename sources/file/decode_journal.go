package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// journal export JSON is what `journalctl -o json` prints, one entry a line: every
// field a key, MESSAGE the message, __REALTIME_TIMESTAMP the entry's time in
// microseconds since the epoch. A field is a string, an array of byte values when it
// is not printable UTF-8, null when it is larger than journalctl shows (4096 bytes
// unless --all), or an array of those when the entry holds it more than once.

var errJournalKeys = errors.New("not a journal entry: no __REALTIME_TIMESTAMP or MESSAGE")

// journalEntry is the part of an entry cowbell reads: the message, the time and the
// fields the journald source makes labels of.
type journalEntry struct {
	Realtime   *string      `json:"__REALTIME_TIMESTAMP"`
	Message    journalField `json:"MESSAGE"`
	Unit       journalField `json:"_SYSTEMD_UNIT"`
	Identifier journalField `json:"SYSLOG_IDENTIFIER"`
	PID        journalField `json:"_PID"`
	Comm       journalField `json:"_COMM"`
	Transport  journalField `json:"_TRANSPORT"`
	Hostname   journalField `json:"_HOSTNAME"`
	Priority   journalField `json:"PRIORITY"`
	BootID     journalField `json:"_BOOT_ID"`
}

// DecodeJournalJSON decodes one entry of `journalctl -o json` into its message (no
// newline, valid UTF-8), its time and the labels the journald source gives the same
// entry.
func DecodeJournalJSON(record []byte) (msg []byte, t time.Time, labels map[string]string, err error) {
	d, err := decodeJournalJSON(record)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	return clean(d.lines[0], true), d.t, d.labels, nil
}

func decodeJournalJSON(record []byte) (decoded, error) {
	var e journalEntry
	if err := json.Unmarshal(record, &e); err != nil {
		return decoded{}, fmt.Errorf("decode journal entry: %w", err)
	}
	if e.Realtime == nil || !e.Message.set {
		return decoded{}, errJournalKeys
	}
	us, err := strconv.ParseInt(*e.Realtime, 10, 64)
	if err != nil || us < 0 {
		return decoded{}, fmt.Errorf("decode journal entry: __REALTIME_TIMESTAMP %q", *e.Realtime)
	}
	d := decoded{t: time.UnixMicro(us).UTC(), lines: [][]byte{bytes.TrimRight(e.Message.v, "\n")}}
	d.labels = map[string]string{}
	for _, f := range []struct {
		label string
		v     journalField
	}{
		{sources.LabelUnit, e.Unit}, {sources.LabelIdentifier, e.Identifier}, {sources.LabelPID, e.PID},
		{sources.LabelComm, e.Comm}, {sources.LabelTransport, e.Transport}, {sources.LabelHostname, e.Hostname},
		{sources.LabelPriority, e.Priority}, {sources.LabelBootID, e.BootID},
	} {
		if f.v.set {
			d.labels[f.label] = string(bytes.ToValidUTF8(f.v.v, []byte("\uFFFD")))
		}
	}
	return d, nil
}

// journalField is one field's value: set is false for null (too large to show) and
// for an absent field.
type journalField struct {
	v   []byte
	set bool
}

// UnmarshalJSON implements json.Unmarshaler for the value shapes journalctl writes;
// of a repeated field the first value is kept.
func (f *journalField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f.v, f.set = []byte(s), true
		return nil
	case b[0] != '[':
		return fmt.Errorf("journal field: unexpected %.20q", b)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	if len(items) == 0 {
		f.v, f.set = nil, true
		return nil
	}
	if first := bytes.TrimSpace(items[0]); len(first) > 0 && (first[0] == '"' || first[0] == '[' || first[0] == 'n') {
		return f.UnmarshalJSON(first)
	}
	buf := make([]byte, len(items))
	for i, it := range items {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(it)), 10, 8)
		if err != nil {
			return fmt.Errorf("journal field: byte %d: %w", i, err)
		}
		buf[i] = byte(n)
	}
	f.v, f.set = buf, true
	return nil
}

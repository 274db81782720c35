// Package journalfmt is the journal's entry as `journalctl -o json` prints it, one
// entry a line: every field a key, MESSAGE the message, __REALTIME_TIMESTAMP the
// entry's time in microseconds since the epoch, __CURSOR its place in the journal. A
// field is a string, an array of byte values when it is not printable UTF-8, null
// when it is larger than journalctl shows (4096 bytes unless --all), or an array of
// those when the entry holds it more than once. The journald source reads it from its
// journalctl child, the file source from files of it.
package journalfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// LabelFields are the journal fields a journal line's labels come from, in the order
// of Entry's fields after Message.
var LabelFields = [...]struct{ Field, Label string }{
	{"_SYSTEMD_UNIT", sources.LabelUnit},
	{"SYSLOG_IDENTIFIER", sources.LabelIdentifier},
	{"_PID", sources.LabelPID},
	{"_COMM", sources.LabelComm},
	{"_TRANSPORT", sources.LabelTransport},
	{"_HOSTNAME", sources.LabelHostname},
	{"PRIORITY", sources.LabelPriority},
	{"_BOOT_ID", sources.LabelBootID},
}

// Entry is the part of an entry cowbell reads: its place and time, the message, and
// the fields of LabelFields.
type Entry struct {
	Cursor     string  `json:"__CURSOR"`
	Realtime   *string `json:"__REALTIME_TIMESTAMP"`
	Message    Field   `json:"MESSAGE"`
	Unit       Field   `json:"_SYSTEMD_UNIT"`
	Identifier Field   `json:"SYSLOG_IDENTIFIER"`
	PID        Field   `json:"_PID"`
	Comm       Field   `json:"_COMM"`
	Transport  Field   `json:"_TRANSPORT"`
	Hostname   Field   `json:"_HOSTNAME"`
	Priority   Field   `json:"PRIORITY"`
	BootID     Field   `json:"_BOOT_ID"`
}

// Labels returns the line labels of the fields e holds, each value made a string by
// str.
func (e *Entry) Labels(str func([]byte) string) map[string]string {
	values := [len(LabelFields)]Field{e.Unit, e.Identifier, e.PID, e.Comm, e.Transport, e.Hostname, e.Priority, e.BootID}
	labels := make(map[string]string, len(values))
	for i, v := range values {
		if v.Set {
			labels[LabelFields[i].Label] = str(v.Value)
		}
	}
	return labels
}

// Field is one field's value: Set is false for null (too large to show) and for an
// absent field; of a field the entry holds more than once, the first value.
type Field struct {
	Value []byte
	Set   bool
}

// UnmarshalJSON implements json.Unmarshaler for the value shapes journalctl writes.
func (f *Field) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f.Value, f.Set = []byte(s), true
		return nil
	case b[0] != '[':
		return fmt.Errorf("journal field: unexpected %.20q", b)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	if len(items) == 0 {
		f.Value, f.Set = nil, true
		return nil
	}
	if first := bytes.TrimSpace(items[0]); len(first) > 0 && (first[0] == '"' || first[0] == '[' || first[0] == 'n') {
		return f.UnmarshalJSON(first) // the field's first value
	}
	buf := make([]byte, len(items))
	for i, it := range items {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(it)), 10, 8)
		if err != nil {
			return fmt.Errorf("journal field: byte %d: %w", i, err)
		}
		buf[i] = byte(n)
	}
	f.Value, f.Set = buf, true
	return nil
}

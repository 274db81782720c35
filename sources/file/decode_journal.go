package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cowbell-sidecar/cowbell/sources/journalfmt"
)

// Files of journal export JSON (journalfmt) hold one entry a line.

var errJournalKeys = errors.New("not a journal entry: no __REALTIME_TIMESTAMP or MESSAGE")

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
	var e journalfmt.Entry
	if err := json.Unmarshal(record, &e); err != nil {
		return decoded{}, fmt.Errorf("decode journal entry: %w", err)
	}
	if e.Realtime == nil || !e.Message.Set {
		return decoded{}, errJournalKeys
	}
	us, err := strconv.ParseInt(*e.Realtime, 10, 64)
	if err != nil || us < 0 {
		return decoded{}, fmt.Errorf("decode journal entry: __REALTIME_TIMESTAMP %q", *e.Realtime)
	}
	d := decoded{t: time.UnixMicro(us).UTC(), lines: [][]byte{bytes.TrimRight(e.Message.Value, "\n")}}
	d.labels = e.Labels(func(v []byte) string { return string(bytes.ToValidUTF8(v, []byte("\uFFFD"))) })
	return d, nil
}

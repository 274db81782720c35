package journald

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// maxJSONLine caps one entry of journalctl's JSON output; MESSAGE is at most 64 KiB
// after sd_journal's data threshold, so a longer line is skipped as too long.
const maxJSONLine = 1 << 20

// ctlFollower follows the journal through a `journalctl -o json --follow` child.
type ctlFollower struct {
	bin    string
	filter filter
	skip   func(reason string) // counts an entry that could not be decoded
	log    *zap.Logger
}

// args builds journalctl's arguments; matches come last, after "--", so no value can
// be taken for an option. Log text never reaches a shell: the child is exec'd directly.
func (f *ctlFollower) args(dir string, from position) []string {
	fields := []string{"MESSAGE"}
	for _, lf := range labelFields {
		fields = append(fields, lf.field)
	}
	args := []string{
		"--output=json", "--all", "--follow", "--no-pager", "--quiet",
		"--output-fields=" + strings.Join(fields, ","),
	}
	if dir != "" {
		args = append(args, "--directory="+dir)
	}
	switch {
	case from.cursor != "":
		// Not --after-cursor: it skips one entry after landing, which is another
		// entry when the cursor's own does not match the filter (it was taken under
		// another one) or was vacuumed. follow drops the cursor's own entry instead.
		args = append(args, "--cursor="+from.cursor)
	case from.start == sources.StartAtBeginning:
		args = append(args, "--no-tail")
	default:
		// Microseconds: journalctl reads the fraction, and entries of the same second
		// from before the source started stay behind.
		us := from.since.UnixMicro()
		args = append(args, fmt.Sprintf("--since=@%d.%06d", us/1e6, us%1e6), "--no-tail")
	}
	return append(append(args, "--"), f.filter.args()...)
}

func (f *ctlFollower) follow(ctx context.Context, dir string, from position, emit func(*entry) error) error {
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	// No shell: the filter's values from the configuration are journalctl's arguments,
	// after "--" where they are matches.
	cmd := exec.CommandContext(child, f.bin, f.args(dir, from)...) //nolint:gosec // see above
	stderr := &tail{max: 1024}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start journalctl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start journalctl: %w", err)
	}
	if from.cursor != "" {
		emit = skipCursor(from.cursor, emit)
	}
	rerr := f.read(stdout, emit)
	cancel() // reading stopped first: stop the child before reaping it
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil || errors.Is(rerr, errStopped):
		return errStopped
	case rerr != nil:
		return rerr
	case werr != nil:
		return fmt.Errorf("journalctl: %w: %s", werr, stderr)
	}
	return fmt.Errorf("journalctl exited: %s", stderr)
}

// skipCursor drops the first entry when it is the one at cursor (sent before).
func skipCursor(cursor string, emit func(*entry) error) func(*entry) error {
	first := true
	return func(e *entry) error {
		if first {
			first = false
			if e.cursor == cursor {
				return nil
			}
		}
		return emit(e)
	}
}

// read decodes entries from journalctl's output until it ends or emit fails.
func (f *ctlFollower) read(r io.Reader, emit func(*entry) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the buffer, gathered up to maxJSONLine
	tooLong := false
	for {
		b, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if full || long != nil || tooLong {
			tooLong = tooLong || len(long)+len(b) > maxJSONLine
			if !tooLong {
				long = append(long, b...)
			}
			if full {
				continue
			}
			b, long = long, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read journalctl output: %w", err)
		}
		if tooLong {
			tooLong = false
			f.skip("too_long")
			continue
		}
		e, derr := decodeJSON(b)
		if derr != nil {
			f.skip("undecodable")
			f.log.Debug("journal entry skipped", zap.Error(derr))
			continue
		}
		if err := emit(e); err != nil {
			return err
		}
	}
}

// jsonEntry is the part of a journalctl JSON entry cowbell reads.
type jsonEntry struct {
	Cursor     string    `json:"__CURSOR"`
	Realtime   string    `json:"__REALTIME_TIMESTAMP"`
	Message    jsonValue `json:"MESSAGE"`
	Unit       jsonValue `json:"_SYSTEMD_UNIT"`
	Identifier jsonValue `json:"SYSLOG_IDENTIFIER"`
	PID        jsonValue `json:"_PID"`
	Comm       jsonValue `json:"_COMM"`
	Transport  jsonValue `json:"_TRANSPORT"`
	Hostname   jsonValue `json:"_HOSTNAME"`
	Priority   jsonValue `json:"PRIORITY"`
	BootID     jsonValue `json:"_BOOT_ID"`
}

// decodeJSON decodes one line of `journalctl -o json` output.
func decodeJSON(b []byte) (*entry, error) {
	var je jsonEntry
	if err := json.Unmarshal(b, &je); err != nil {
		return nil, fmt.Errorf("decode journal entry: %w", err)
	}
	if je.Cursor == "" {
		return nil, errors.New("decode journal entry: no __CURSOR")
	}
	rt, err := strconv.ParseUint(je.Realtime, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode journal entry: __REALTIME_TIMESTAMP: %w", err)
	}
	e := &entry{cursor: je.Cursor, realtime: rt, message: trimNewline(je.Message.s)}
	e.labels = make(map[string]string, len(labelFields))
	values := [...]jsonValue{je.Unit, je.Identifier, je.PID, je.Comm, je.Transport, je.Hostname, je.Priority, je.BootID}
	for i, v := range values {
		if v.ok {
			e.labels[labelFields[i].label] = v.s
		}
	}
	return e, nil
}

// jsonValue is a field of journalctl's JSON output: a string, an array of byte values
// (for data that is not printable UTF-8), null (data too large to show), or an array of
// those when the field occurs more than once in the entry (the first is kept).
type jsonValue struct {
	s  string
	ok bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *jsonValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		return nil
	case b[0] == '"':
		v.ok = true
		return json.Unmarshal(b, &v.s)
	case b[0] != '[':
		return fmt.Errorf("journal field: unexpected %.20s", b)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	if len(items) == 0 {
		v.s, v.ok = "", true
		return nil
	}
	if first := bytes.TrimSpace(items[0]); len(first) > 0 && (first[0] == '"' || first[0] == '[' || first[0] == 'n') {
		return v.UnmarshalJSON(first) // the field's first value
	}
	buf := make([]byte, len(items))
	for i, it := range items {
		n, err := strconv.ParseUint(string(bytes.TrimSpace(it)), 10, 8)
		if err != nil {
			return fmt.Errorf("journal field: byte %d: %w", i, err)
		}
		buf[i] = byte(n)
	}
	v.s, v.ok = string(buf), true
	return nil
}

// trimNewline drops the newlines some programs end their messages with.
func trimNewline(s string) string { return strings.TrimRight(s, "\n") }

// tail keeps the last max bytes written to it: the end of journalctl's stderr.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }

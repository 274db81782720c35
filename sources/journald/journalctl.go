package journald

import (
	"bufio"
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
	"github.com/cowbell-sidecar/cowbell/sources/journalfmt"
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
	for _, lf := range journalfmt.LabelFields {
		fields = append(fields, lf.Field)
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

// decodeJSON decodes one line of `journalctl -o json` output.
func decodeJSON(b []byte) (*entry, error) {
	var je journalfmt.Entry
	if err := json.Unmarshal(b, &je); err != nil {
		return nil, fmt.Errorf("decode journal entry: %w", err)
	}
	if je.Cursor == "" {
		return nil, errors.New("decode journal entry: no __CURSOR")
	}
	if je.Realtime == nil {
		return nil, errors.New("decode journal entry: no __REALTIME_TIMESTAMP")
	}
	rt, err := strconv.ParseUint(*je.Realtime, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode journal entry: __REALTIME_TIMESTAMP: %w", err)
	}
	e := &entry{cursor: je.Cursor, realtime: rt, message: trimNewline(string(je.Message.Value))}
	e.labels = je.Labels(func(v []byte) string { return string(v) })
	return e, nil
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

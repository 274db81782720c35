// Package sources reads log lines: plain files, container logs, journald, the kernel
// ring buffer and stdin. A source decodes its format; what rules see is the decoded
// message, with container or journal metadata as labels and the record's own time.
package sources

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Line is one log line as read, before matching.
type Line struct {
	Source string            // configured source name: "redis", "kernel"
	Stream string            // file path or "journal"
	Text   string            // decoded message, no trailing newline
	Time   time.Time         // the record's own timestamp if it has one, else read time
	Labels map[string]string // container, pod, namespace, unit, ...; nil when none; read-only (shared between lines)
	Cursor Cursor            // where to resume after this line
}

// Cursor is a resumable position, stored under Stream as Position() says; Pos is
// opaque outside the source that wrote it.
//
// A source whose positions end in a byte offset may leave the offset apart (Off,
// Done, with Offset set) after a Pos that many lines share: a line then costs no
// string of its own for its cursor, and the position is only written out for the
// lines whose cursors are stored.
type Cursor struct {
	Stream, Pos string
	Off, Done   int64 // with Offset: the position is Pos, Off and, when Done > Off, "+" Done, in decimal
	Offset      bool
}

// Position returns the position as stored.
func (c Cursor) Position() string {
	if !c.Offset {
		return c.Pos
	}
	b := make([]byte, 0, len(c.Pos)+42)
	return string(c.AppendOffset(append(b, c.Pos...)))
}

// AppendOffset appends the position's offset part, if any, to b.
func (c Cursor) AppendOffset(b []byte) []byte {
	if !c.Offset {
		return b
	}
	b = strconv.AppendInt(b, c.Off, 10)
	if c.Done > c.Off {
		b = append(b, '+')
		b = strconv.AppendInt(b, c.Done, 10)
	}
	return b
}

// Source reads lines until ctx is done.
//
//   - Run sends every line to out, in batches (Emitter, or Stream.Send for one line):
//     the lines of one read together, handed over as soon as that read is done,
//     selecting on ctx.Done() for each send.
//   - It returns nil when ctx is cancelled, an error when it cannot go on;
//     it does not retry (Supervise restarts it with backoff).
//   - It resumes from the cursors in Checkpoints and never writes them.
type Source interface {
	Name() string
	Run(ctx context.Context, out chan<- *Batch) error
}

// Checkpoints stores source positions, by Cursor.Stream (a PositionKey).
//
//   - Load reports ok=false for a stream never saved.
//   - Save stores every cursor given in one write: all of them, or none.
type Checkpoints interface {
	Load(ctx context.Context, stream string) (pos string, ok bool, err error)
	Save(ctx context.Context, cs ...Cursor) error
}

// StartAt says where a source starts on a stream it has no checkpoint for.
type StartAt int

// Start positions.
const (
	StartAtEnd StartAt = iota
	StartAtBeginning
)

// ParseStartAt reads a start_at setting: "end" or "beginning".
func ParseStartAt(s string) (StartAt, error) {
	switch s {
	case "end":
		return StartAtEnd, nil
	case "beginning":
		return StartAtBeginning, nil
	}
	return 0, fmt.Errorf("%q is not end or beginning", s)
}

//go:build cgo

package journald

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// sdFollower reads the journal through libsystemd's sd_journal API.
type sdFollower struct {
	filter filter
	open   func(dir string) (*sdjournal.Journal, error)
}

// openSD opens the local journal (dir "") or a directory; tests swap it to stand in for
// a host without libsystemd.so.0.
var openSD = openJournal

// newSDFollower checks that libsystemd loads and opens the local journal, so that a
// missing library is an error at start (or the journalctl fallback), not at read time.
func newSDFollower(flt filter) (follower, error) {
	f := &sdFollower{filter: flt, open: openSD}
	j, err := f.open("")
	if err != nil {
		return nil, err
	}
	_ = j.Close()
	return f, nil
}

func openJournal(dir string) (*sdjournal.Journal, error) {
	var (
		j   *sdjournal.Journal
		err error
	)
	if dir == "" {
		j, err = sdjournal.NewJournal()
	} else {
		j, err = sdjournal.NewJournalFromDir(dir)
	}
	if err != nil {
		return nil, openError(dir, err)
	}
	return j, nil
}

// openError says why a journal did not open: the library, or the journal itself.
func openError(dir string, err error) error {
	// sd_journal_open failures carry an errno; anything else is the library itself
	// (libsystemd.so.0 missing, or a symbol not found in it).
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("load libsystemd.so.0: %w", err)
	}
	if dir == "" {
		return fmt.Errorf("open the local journal: %w", errno)
	}
	return fmt.Errorf("open journal directory %s: %w", dir, errno)
}

func (f *sdFollower) follow(ctx context.Context, dir string, from position, emit func(*entry) error) error {
	j, err := f.open(dir)
	if err != nil {
		return err
	}
	defer j.Close()
	if err := addFilter(j, f.filter); err != nil {
		return err
	}
	current, err := seek(j, from)
	if err != nil {
		return err
	}
	for {
		if !current {
			n, err := j.Next()
			if err != nil {
				return fmt.Errorf("read next entry: %w", err)
			}
			if n == 0 {
				if err := wait(ctx, j); err != nil {
					return err
				}
				continue
			}
		}
		current = false
		e, err := readEntry(j)
		if err != nil {
			return err
		}
		if err := emit(e); err != nil {
			return err
		}
	}
}

// addFilter adds the filter's matches: the unit terms as alternatives, then (AND)
// the other fields.
func addFilter(j *sdjournal.Journal, flt filter) error {
	for i, term := range flt.units {
		if i > 0 {
			if err := j.AddDisjunction(); err != nil {
				return fmt.Errorf("add match: %w", err)
			}
		}
		for _, m := range term {
			if err := j.AddMatch(m); err != nil {
				return fmt.Errorf("add match %s: %w", m, err)
			}
		}
	}
	if len(flt.units) > 0 {
		if err := j.AddConjunction(); err != nil {
			return fmt.Errorf("add match: %w", err)
		}
	}
	for _, m := range flt.fields {
		if err := j.AddMatch(m); err != nil {
			return fmt.Errorf("add match %s: %w", m, err)
		}
	}
	return nil
}

// seek places the read pointer for from. It reports current=true when the pointer is
// on the first entry to send; otherwise the next Next() returns it.
func seek(j *sdjournal.Journal, from position) (current bool, err error) {
	switch {
	case from.cursor != "":
		if err := j.SeekCursor(from.cursor); err != nil {
			return false, fmt.Errorf("seek to checkpoint: %w", err)
		}
		// SeekCursor lands on the cursor's entry, or on the nearest one when it has
		// been vacuumed: step onto it; unless it is the entry already sent, it is new.
		n, err := j.Next()
		if err != nil {
			return false, fmt.Errorf("seek to checkpoint: %w", err)
		}
		return n == 1 && j.TestCursor(from.cursor) != nil, nil
	case from.start == sources.StartAtBeginning:
		if err := j.SeekHead(); err != nil {
			return false, fmt.Errorf("seek to head: %w", err)
		}
	default:
		// Next() after the seek lands on the first entry received at or after since.
		if err := j.SeekRealtimeUsec(uint64(from.since.UnixMicro())); err != nil {
			return false, fmt.Errorf("seek to start time: %w", err)
		}
	}
	return false, nil
}

// waiter is what wait needs of a journal: sdjournal's Wait, whose result is a
// sd_journal_wait(3) code or a negative errno.
type waiter interface {
	Wait(timeout time.Duration) int
}

// wait blocks until the journal changes, waitTimeout passes or ctx is done. A negative
// result (inotify exhausted, files gone) is returned as an error instead of waiting
// again at once, which would spin; Supervise restarts the source with backoff.
func wait(ctx context.Context, j waiter) error {
	if err := ctx.Err(); err != nil {
		return errStopped
	}
	if r := j.Wait(waitTimeout); r < 0 {
		return fmt.Errorf("wait for journal changes: %w", syscall.Errno(-r))
	}
	return nil
}

// readEntry reads the fields cowbell keeps, one by one: cheaper than GetEntry, which
// copies every field of the entry.
func readEntry(j *sdjournal.Journal) (*entry, error) {
	cursor, err := j.GetCursor()
	if err != nil {
		return nil, fmt.Errorf("read entry: %w", err)
	}
	rt, err := j.GetRealtimeUsec()
	if err != nil {
		return nil, fmt.Errorf("read entry: %w", err)
	}
	msg, _ := j.GetDataValue("MESSAGE") // an entry without MESSAGE has empty text
	e := &entry{
		cursor: cursor, realtime: rt, message: trimNewline(msg),
		labels: make(map[string]string, len(labelFields)),
	}
	for _, lf := range labelFields {
		if v, err := j.GetDataValue(lf.field); err == nil {
			e.labels[lf.label] = v
		}
	}
	return e, nil
}

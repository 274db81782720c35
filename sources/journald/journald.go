// Package journald reads systemd journal entries, resumed by journal cursor.
//
// The cgo build reads through libsystemd (github.com/coreos/go-systemd/v22/sdjournal,
// which loads libsystemd.so.0 at run time); a build without cgo, or the "journalctl"
// reader, follows a `journalctl -o json --follow` child process. Both give the same
// lines: Text is MESSAGE, Time is the entry's realtime timestamp, selected trusted
// fields become labels, and the cursor is the journal cursor verbatim.
package journald

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// waitTimeout bounds each wait for new entries, so a cancelled context is noticed.
const waitTimeout = 250 * time.Millisecond

// entry is one journal entry as read.
type entry struct {
	cursor   string
	realtime uint64 // µs since the epoch
	message  string
	labels   map[string]string
}

// position is where a follower starts: after cursor if set, else at start. At the end
// means at since: the entries journald received from that instant, so a line logged
// while the follower is still seeking is not skipped, and a stream restarted without
// having sent a line does not skip what came in between.
type position struct {
	cursor string
	start  sources.StartAt
	since  time.Time
}

// Positions a stream starts from before its first entry is sent, as stored: "head",
// or "since=<µs since the epoch>". A journal cursor ("s=…;i=…") is neither.
const (
	posHead  = "head"
	posSince = "since="
)

// encode is the stored form of a position.
func (p position) encode() string {
	switch {
	case p.cursor != "":
		return p.cursor
	case p.start == sources.StartAtBeginning:
		return posHead
	}
	return posSince + strconv.FormatInt(p.since.UnixMicro(), 10)
}

// decodePosition reads a stored position.
func decodePosition(s string) position {
	if s == posHead {
		return position{start: sources.StartAtBeginning}
	}
	if us, ok := strings.CutPrefix(s, posSince); ok {
		if n, err := strconv.ParseInt(us, 10, 64); err == nil {
			return position{start: sources.StartAtEnd, since: time.UnixMicro(n)}
		}
	}
	return position{cursor: s}
}

// follower reads one journal (local when dir is "") from a position and calls emit for
// each entry until ctx is done (returning nil) or it cannot go on. emit returns
// errStopped once ctx is done.
type follower interface {
	follow(ctx context.Context, dir string, from position, emit func(*entry) error) error
}

var errStopped = errors.New("stopped")

// dirPoll is how often a stream whose journal directory is missing or holds no
// journal file yet looks again.
const dirPoll = time.Second

// Source reads journal entries: the local journal, or each configured directory as its
// own stream ("journal:<dir>").
type Source struct {
	opened  func() // Deps.Opened: every stream of a run has started following
	name    string
	streams []stream
	f       follower
	pos     *sources.Positions
	start   sources.StartAt
	log     *zap.Logger
	began   time.Time     // when the source was made: where "end" is
	dirPoll time.Duration // see dirPoll; tests shorten it
}

type stream struct{ name, dir string }

var _ sources.Source = (*Source)(nil)

// New makes a journald source named d.Name. It chooses the reader (see Config.Reader)
// and fails when the one asked for cannot work here; d.Checkpoints may be nil (no
// checkpoints), and a nil d.Metrics counts into unregistered metrics. d.Log is named
// with the source by the caller; d.Opened is called when a run has opened its
// journals.
func New(c Config, d sources.Deps) (*Source, error) {
	name, cp, m, log := d.Name, d.Checkpoints, d.Metrics, d.Log
	if log == nil {
		log = zap.NewNop()
	}
	start, err := sources.ParseStartAt(c.StartAt)
	if err != nil {
		return nil, fmt.Errorf("journald source %q: start_at: %w", name, err)
	}
	if m == nil {
		m = sources.NewMetrics(nil)
	}
	f, err := chooseFollower(c, log, func(reason string) { m.LinesSkipped.WithLabelValues(name, reason).Inc() })
	if err != nil {
		return nil, fmt.Errorf("journald source %q: %w", name, err)
	}
	s := &Source{
		name: name, f: f, start: start, log: log,
		pos:     sources.NewPositions(name, cp, m),
		began:   time.Now(), // the journal's clock
		dirPoll: dirPoll,
		opened:  d.Opened,
	}
	for _, d := range c.dirs() {
		s.streams = append(s.streams, stream{name: "journal:" + d, dir: d})
	}
	if len(s.streams) == 0 {
		s.streams = []stream{{name: "journal"}}
	}
	return s, nil
}

// chooseFollower picks the reader: sdjournal when asked or, for auto, when libsystemd
// loads; journalctl otherwise.
func chooseFollower(c Config, log *zap.Logger, skip func(reason string)) (follower, error) {
	flt := c.filter()
	if c.Reader != ReaderJournalctl {
		f, err := newSDFollower(flt)
		if err == nil {
			return f, nil
		}
		if c.Reader == ReaderSDJournal {
			return nil, fmt.Errorf("reader sdjournal: %w", err)
		}
		log.Info("reading the journal through journalctl", zap.NamedError("sdjournal", err))
	}
	bin, err := exec.LookPath("journalctl")
	if err != nil {
		return nil, fmt.Errorf("reader journalctl: %w", err)
	}
	return &ctlFollower{bin: bin, filter: flt, skip: skip, log: log}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.name }

// Run follows every stream of the source until ctx is done (returning nil) or one of
// them fails. Each stream resumes where the source's positions say (see
// sources.Positions); one without a position starts as start_at says, from the instant
// the source was made. A directory that is missing or holds no journal file yet is
// waited for: the other directories are read meanwhile.
func (s *Source) Run(ctx context.Context, out chan<- *sources.Batch) error {
	g, ctx := errgroup.WithContext(ctx)
	pending := atomic.Int32{}
	pending.Store(int32(len(s.streams)))
	started := func() { // a stream follows, or waits for a directory that may never come
		if pending.Add(-1) == 0 && s.opened != nil {
			s.opened()
		}
	}
	for _, st := range s.streams {
		g.Go(func() error { return s.runStream(ctx, st, out, started) })
	}
	return g.Wait()
}

// ReportsOpened implements sources.Opener: a run says when each of its streams
// follows its journal (or waits for a directory that does not exist yet).
func (s *Source) ReportsOpened() {}

func (s *Source) runStream(ctx context.Context, st stream, out chan<- *sources.Batch, started func()) error {
	h, from, err := s.position(ctx, st.name)
	if err != nil {
		return err
	}
	var once sync.Once
	defer once.Do(started) // a stream that ends or fails before following settles too
	if st.dir != "" && !hasJournal(st.dir) {
		once.Do(started)
		if ok := s.waitForJournal(ctx, st); !ok {
			return nil
		}
	}
	once.Do(started)
	s.log.Info("following the journal", zap.String("stream", st.name), zap.Bool("resumed", from.cursor != ""))
	emit := func(e *entry) error {
		l := sources.Line{
			Text: e.message, Labels: e.labels, Time: time.UnixMicro(int64(e.realtime)),
			Cursor: sources.Cursor{Pos: e.cursor},
		}
		if h.Send(ctx, out, l, true) != nil {
			return errStopped
		}
		return nil
	}
	err = s.f.follow(ctx, st.dir, from, emit)
	if ctx.Err() != nil || errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("follow %s: %w", st.name, err)
	}
	return nil
}

// position returns the stream's handle and where it starts. A stream without a
// position starts as start_at says, recorded at once so that a restart before its
// first entry goes on from there.
func (s *Source) position(ctx context.Context, name string) (*sources.Stream, position, error) {
	h, pos, ok, err := s.pos.Resume(ctx, name)
	if err != nil {
		return nil, position{}, err
	}
	if ok {
		return h, decodePosition(pos), nil
	}
	from := position{start: s.start, since: s.began}
	h.Discovered(from.encode())
	if err := s.pos.Record(ctx); err != nil {
		return nil, position{}, err
	}
	return h, from, nil
}

// waitForJournal waits until the stream's directory holds a journal file (journald
// has not created it yet, or the host keeps its journal in the other directory);
// false when ctx is done first.
func (s *Source) waitForJournal(ctx context.Context, st stream) bool {
	if hasJournal(st.dir) {
		return true
	}
	s.log.Info("no journal in the directory yet, waiting for one", zap.String("stream", st.name))
	t := time.NewTicker(s.dirPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if hasJournal(st.dir) {
				s.log.Info("journal found in the directory", zap.String("stream", st.name))
				return true
			}
		}
	}
}

// hasJournal reports whether dir holds a journal file with entries, directly or in a
// machine's directory under it (journald writes <dir>/<machine id>/system.journal).
// journalctl --follow fails on a directory without one.
func hasJournal(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() && journalWithEntries(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 32 {
			continue
		}
		sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, f := range sub {
			if !f.IsDir() && journalWithEntries(filepath.Join(dir, e.Name(), f.Name())) {
				return true
			}
		}
	}
	return false
}

// The journal file header (systemd's journal-def.h): its signature, and where the
// little-endian count of entries sits.
const (
	journalSignature = "LPKSHHRH"
	nEntriesOffset   = 152
)

// journalWithEntries reports whether path is a journal file (.journal, or .journal~
// for one journald did not close) whose header counts at least one entry.
func journalWithEntries(path string) bool {
	if !strings.HasSuffix(path, ".journal") && !strings.HasSuffix(path, ".journal~") {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [nEntriesOffset + 8]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false
	}
	return string(h[:len(journalSignature)]) == journalSignature &&
		binary.LittleEndian.Uint64(h[nEntriesOffset:]) > 0
}

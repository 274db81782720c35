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
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// labelFields maps the journal fields kept on each line to their label names.
var labelFields = [...]struct{ field, label string }{
	{"_SYSTEMD_UNIT", sources.LabelUnit},
	{"SYSLOG_IDENTIFIER", sources.LabelIdentifier},
	{"_PID", sources.LabelPID},
	{"_COMM", sources.LabelComm},
	{"_TRANSPORT", sources.LabelTransport},
	{"_HOSTNAME", sources.LabelHostname},
	{"PRIORITY", sources.LabelPriority},
	{"_BOOT_ID", sources.LabelBootID},
}

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
// means at since: the entries journald received from the instant the source was made,
// so a line logged while the follower is still seeking is not skipped, and a follower
// restarted without having sent a line does not skip what came in between.
type position struct {
	cursor string
	start  sources.StartAt
	since  time.Time
}

// follower reads one journal (local when dir is "") from a position and calls emit for
// each entry until ctx is done (returning nil) or it cannot go on. emit returns
// errStopped once ctx is done.
type follower interface {
	follow(ctx context.Context, dir string, from position, emit func(*entry) error) error
}

var errStopped = errors.New("stopped")

// Source reads journal entries: the local journal, or each configured directory as its
// own stream ("journal:<dir>").
type Source struct {
	name    string
	streams []stream
	f       follower
	cp      sources.Checkpoints
	start   sources.StartAt
	log     *zap.Logger
	now     func() time.Time

	read prometheus.Counter
	lag  prometheus.Gauge

	mu    sync.Mutex
	sent  map[string]string // stream → cursor of the last line sent, for restarts
	began time.Time         // when the source was made: where "end" is
}

type stream struct{ name, dir string }

var _ sources.Source = (*Source)(nil)

// New makes a journald source. It chooses the reader (see Config.Reader) and fails
// when the one asked for cannot work here; cp may be nil (no checkpoints), and a nil
// m counts into unregistered metrics. log is named with the source by the caller.
func New(name string, c Config, cp sources.Checkpoints, m *sources.Metrics, log *zap.Logger) (*Source, error) {
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
		name: name, f: f, cp: cp, start: start, log: log, now: time.Now,
		began: time.Now(), // the journal's clock, whatever s.now is
		read:  m.LinesRead.WithLabelValues(name),
		lag:   m.LagSeconds.WithLabelValues(name),
		sent:  map[string]string{},
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
	matches := c.matches()
	if c.Reader != ReaderJournalctl {
		f, err := newSDFollower(matches)
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
	return &ctlFollower{bin: bin, matches: matches, skip: skip, log: log}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.name }

// Run follows every stream of the source until ctx is done (returning nil) or one of
// them fails. Each stream resumes after the last line this Source sent, else after its
// checkpoint, else at the configured start.
func (s *Source) Run(ctx context.Context, out chan<- sources.Line) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, st := range s.streams {
		g.Go(func() error { return s.runStream(ctx, st, out) })
	}
	return g.Wait()
}

func (s *Source) runStream(ctx context.Context, st stream, out chan<- sources.Line) error {
	from, err := s.position(ctx, st.name)
	if err != nil {
		return err
	}
	s.log.Info("following the journal", zap.String("stream", st.name), zap.Bool("resumed", from.cursor != ""))
	emit := func(e *entry) error {
		l := sources.Line{
			Source: s.name, Stream: st.name, Text: e.message, Labels: e.labels,
			Time:   time.UnixMicro(int64(e.realtime)),
			Cursor: sources.Cursor{Stream: st.name, Pos: e.cursor},
		}
		s.read.Inc() // before the send: whoever has the line can see it counted
		select {
		case out <- l:
		case <-ctx.Done():
			return errStopped
		}
		s.lag.Set(s.now().Sub(l.Time).Seconds())
		s.mu.Lock()
		s.sent[st.name] = e.cursor
		s.mu.Unlock()
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

func (s *Source) position(ctx context.Context, stream string) (position, error) {
	s.mu.Lock()
	c, began := s.sent[stream], s.began
	s.mu.Unlock()
	if c != "" {
		return position{cursor: c}, nil
	}
	if s.cp != nil {
		pos, ok, err := s.cp.Load(ctx, stream)
		if err != nil {
			return position{}, fmt.Errorf("load checkpoint of %s: %w", stream, err)
		}
		if ok && pos != "" {
			return position{cursor: pos}, nil
		}
	}
	return position{start: s.start, since: began}, nil
}

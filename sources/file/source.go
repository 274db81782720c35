// Package file follows plain log files and container logs (Docker json-file, CRI)
// without losing or repeating lines across rotation, truncation and restarts.
//
// A file is known by its device, inode and a fingerprint of its first bytes. inotify
// (fsnotify) says which files were written and which paths changed, and only those
// are looked at; every path is looked at again every rescan_interval, the safety
// net, and every poll_interval where inotify cannot watch (then polling is the
// source of truth). Past max_open_files, idle files are closed and opened again when
// they change (park.go). A rotated
// file stays open and is read to its end, and drained for a grace period, before it
// is closed. A file truncated in place (copytruncate) is read on from the copy
// left beside it, then from its beginning.
package file

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

var _ sources.Source = (*Source)(nil)

// Source follows the files of one configured file source.
type Source struct {
	name   string
	cfg    Config
	opened func() // Deps.Opened: a run has found and positioned its files
	// pos keeps each stream's position: a Run after a failed one (Supervise runs them
	// one after another) goes on where the last one left each file.
	pos *sources.Positions
	log *zap.Logger

	now func() time.Time // the clock: read times, flush timeouts, grace periods
	loc *time.Location   // time_zone, nil when unset
	// notify makes the wakeup hint (fsnotify); nil polls only. Polling runs regardless.
	notify func() (*fsnotify.Watcher, error)
	// afterScan, when set (by tests), is called after each full scan.
	afterScan func(ctx context.Context)
	// quietHook, when set (by tests), is told each time the source goes quiet (its
	// ticker sleeps until the next full scan) and busy again.
	quietHook func(quiet bool)

	guard   *guard       // which files it opens
	refused refused      // files it does not read, by path
	trouble func(string) // Deps.Trouble: what it cannot read, in a few words

	linesCut, bytesRead              prometheus.Counter
	skipped, rotations, filesRefused *prometheus.CounterVec
	refusedNow                       *prometheus.GaugeVec
}

// New makes a file source named d.Name. Zero fields of c take their defaults;
// d.Checkpoints may be nil (no checkpoints), d.Metrics nil (metrics kept but not
// registered), d.Log nil (no log); d.Opened is called when a run has found and
// positioned its files.
func New(c Config, d sources.Deps) (*Source, error) {
	name, cp, m, log := d.Name, d.Checkpoints, d.Metrics, d.Log
	c = c.withDefaults()
	if key, err := c.check(); err != nil {
		return nil, fmt.Errorf("file source %q: %s: %w", name, key, err)
	}
	var loc *time.Location
	if c.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(c.TimeZone); err != nil { // checked: cannot fail
			return nil, fmt.Errorf("file source %q: time_zone: %w", name, err)
		}
	}
	if m == nil {
		m = sources.NewMetrics(nil)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{
		name:      name,
		cfg:       c,
		loc:       loc,
		pos:       sources.NewPositions(name, cp, m),
		log:       log, // named by its owner (the pipeline adds source=name)
		now:       time.Now,
		notify:    fsnotify.NewWatcher,
		linesCut:  m.LinesCut.WithLabelValues(name),
		bytesRead: m.BytesRead.WithLabelValues(name),
		skipped:   m.LinesSkipped.MustCurryWith(prometheus.Labels{"source": name}),
		rotations: m.Rotations.MustCurryWith(prometheus.Labels{"source": name}),
		opened:    d.Opened,
		guard:     newGuard(&c),
		refused:   refused{paths: map[string]string{}},
		trouble:   d.Trouble,

		filesRefused: m.FilesRefused.MustCurryWith(prometheus.Labels{"source": name}),
		refusedNow:   m.FilesRefusedNow.MustCurryWith(prometheus.Labels{"source": name}),
	}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.name }

// ReportsOpened implements sources.Opener: a run says when its first scan has found
// and positioned its files.
func (s *Source) ReportsOpened() {}

// Run follows the configured files and sends their lines to out until ctx is done.
// Each stream resumes at its position (see sources.Positions): where this Source left
// it, else its checkpoint; a file without one is read from where start_at says at the
// source's very first start, and from its beginning when it appears later or appeared
// while cowbell was stopped. Run returns nil when ctx is cancelled, and an error when
// checkpoints cannot be read or written.
func (s *Source) Run(ctx context.Context, out chan<- *sources.Batch) error {
	s.pos.SetClock(s.now) // the lag, on the clock tests swap
	r := newRun(ctx, s, out)
	defer r.closeAll()
	w := startWatcher(ctx, s.notify, s.log)
	defer w.stop()
	r.watcher = w
	s.log.Info("source started", zap.Strings("paths", s.cfg.Paths))
	defer s.log.Info("source stopped")

	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	err := s.scan(ctx, r, true)
	if err == nil && s.opened != nil {
		s.opened()
	}
	// While nothing waits for a timer, the ticker sleeps until the next full scan:
	// inotify wakes the loop for what changes. Idle, that is one wakeup every
	// rescan_interval instead of four a second. Whether it may sleep is looked at
	// after a tick (a pass over every stream, as the tick's own); an event wakes it.
	quiet := false
	setQuiet := func(q bool) {
		if q != quiet {
			quiet = q
			tick.Reset(s.tickEvery(r, quiet))
			if s.quietHook != nil {
				s.quietHook(quiet)
			}
		}
	}
	for err == nil {
		if r.more {
			// A file had more to read than one pass takes: go on at once, but let
			// cancellation and other wakeups in.
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				err = s.tick(ctx, r)
			default:
				err = r.readAll()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			err = s.tick(ctx, r)
			setQuiet(err == nil && r.quiet())
		case <-w.scan:
			err = r.scanChanged()
			setQuiet(false)
		case <-w.read:
			err = r.readChanged()
			setQuiet(false)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// scan runs one full scan and tells the test hook.
func (s *Source) scan(ctx context.Context, r *run, first bool) error {
	if err := r.scan(first); err != nil {
		return err
	}
	if s.afterScan != nil {
		s.afterScan(ctx)
	}
	return nil
}

// tick runs a timer pass, and tells the test hook when it was a full scan.
// tickEvery is the ticker's period: poll_interval, or while quiet the time left until
// the next full scan.
func (s *Source) tickEvery(r *run, quiet bool) time.Duration {
	if !quiet {
		return s.cfg.PollInterval
	}
	return max(s.cfg.PollInterval, time.Until(r.lastFull.Add(s.cfg.RescanInterval)))
}

func (s *Source) tick(ctx context.Context, r *run) error {
	full, err := r.tick()
	if err == nil && full && s.afterScan != nil {
		s.afterScan(ctx)
	}
	return err
}

// expand lists the paths the patterns match now, in order, without repeats. A
// literal path is listed even while it does not exist; a glob's matches leave out
// the excluded names.
func (s *Source) expand() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range s.cfg.Paths {
		ms := []string{p}
		if hasMeta(p) {
			ms, _ = filepath.Glob(p) // the only error, a bad pattern, was checked in New
			ms = slices.DeleteFunc(ms, s.cfg.excluded)
		}
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// hasMeta reports whether p is a glob pattern.
func hasMeta(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

// Package kmsg reads the kernel ring buffer from /dev/kmsg, for hosts without journald:
// the OOM killer and the memory cgroup report there.
package kmsg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// recordBuf holds one record: the kernel caps a /dev/kmsg record at 8 KiB and fails a
// read into a smaller buffer with EINVAL.
const recordBuf = 16 << 10

// bootIDPath names the current boot; sequence numbers start again at each boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// Source reads kernel log records. Its cursor Pos is "<boot id>:<seq>"; a checkpoint
// from an earlier boot resumes at the start of the ring buffer.
type Source struct {
	name, path string
	cp         sources.Checkpoints
	start      sources.StartAt
	boot       time.Time // wall time at boot: record times are offsets from it
	bootID     string
	log        *zap.Logger

	read, undecodable, overrun prometheus.Counter
	lag                        prometheus.Gauge
	now                        func() time.Time

	mu   sync.Mutex
	last uint64 // seq of the last record sent, for restarts; valid when sent
	sent bool
	// A Run that started at the end notes where that was: a later Run (after a
	// failure) that has sent nothing yet goes on from there, not from the new end.
	endAfter int64 // skip records up to this seq (-1: none)
	atEnd    bool
}

var _ sources.Source = (*Source)(nil)

// New makes a kmsg source. The device is opened by Run; cp may be nil (no checkpoints)
// and a nil m counts into unregistered metrics. log is named with the source by the caller.
func New(name string, c Config, cp sources.Checkpoints, m *sources.Metrics, log *zap.Logger) (*Source, error) {
	start, err := sources.ParseStartAt(c.StartAt)
	if err != nil {
		return nil, fmt.Errorf("kmsg source %q: start_at: %w", name, err)
	}
	if m == nil {
		m = sources.NewMetrics(nil)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("kmsg source %q: read the monotonic clock: %w", name, err)
	}
	id, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil, fmt.Errorf("kmsg source %q: read boot id: %w", name, err)
	}
	path := c.Path
	if path == "" {
		path = DefaultConfig.Path
	}
	return &Source{
		name: name, path: path, cp: cp, start: start, now: time.Now,
		boot:        time.Now().Add(-time.Duration(ts.Nano())),
		bootID:      strings.TrimSpace(string(id)),
		log:         log.With(zap.String("stream", path)),
		read:        m.LinesRead.WithLabelValues(name),
		undecodable: m.LinesSkipped.WithLabelValues(name, "undecodable"),
		overrun:     m.LinesSkipped.WithLabelValues(name, "overrun"),
		lag:         m.LagSeconds.WithLabelValues(name),
	}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.name }

// Run reads records until ctx is done (returning nil) or the device fails.
func (s *Source) Run(ctx context.Context, out chan<- sources.Line) error {
	after, fromEnd, err := s.position(ctx)
	if err != nil {
		return err
	}
	// Non-blocking, so the runtime poller waits for records and a deadline ends the wait.
	fd, err := syscall.Open(s.path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	if fromEnd {
		end, err := skipToEnd(fd)
		if err != nil {
			syscall.Close(fd)
			return fmt.Errorf("read to the end of %s: %w", s.path, err)
		}
		after = end
		s.mu.Lock()
		s.endAfter, s.atEnd = end, true
		s.mu.Unlock()
	}
	f := os.NewFile(uintptr(fd), s.path)
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	s.log.Info("reading the kernel log", zap.Bool("resumed", after >= 0), zap.Bool("from_end", fromEnd))
	err = s.loop(ctx, f, after, out)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// position says where to start: after seq (-1: no record to skip), or at the end.
func (s *Source) position(ctx context.Context) (after int64, fromEnd bool, err error) {
	s.mu.Lock()
	last, sent, endAfter, atEnd := s.last, s.sent, s.endAfter, s.atEnd
	s.mu.Unlock()
	switch {
	case sent:
		return int64(last), false, nil
	case atEnd:
		return endAfter, false, nil
	}
	if s.cp != nil {
		pos, ok, err := s.cp.Load(ctx, s.path)
		if err != nil {
			return 0, false, fmt.Errorf("load checkpoint of %s: %w", s.path, err)
		}
		if ok {
			boot, seq, found := strings.Cut(pos, ":")
			n, perr := strconv.ParseUint(seq, 10, 63)
			switch {
			case !found || perr != nil:
				s.log.Warn("ignoring a malformed checkpoint")
			case boot != s.bootID:
				return -1, false, nil // a new boot: every record in the buffer is new
			default:
				return int64(n), false, nil
			}
		}
	}
	return -1, s.start == sources.StartAtEnd, nil
}

// skipToEnd reads the records already in the buffer of the non-blocking fd and returns
// the last one's seq (-1 when there is none); the next read returns a new record.
// Reading them, rather than seeking to the end, tells where the end was, so a later
// Run can go on from there.
func skipToEnd(fd int) (int64, error) {
	buf := make([]byte, recordBuf)
	end := int64(-1)
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return end, nil
		case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EINTR):
			continue // overwritten while we read, or interrupted: read on
		case err != nil:
			return 0, err
		case n <= 0:
			return end, nil
		}
		if seq, ok := seqOf(buf[:n]); ok && int64(seq) > end {
			end = int64(seq)
		}
	}
}

// loop reads one record per read until the reader fails. Records up to seq after are
// skipped; EPIPE and gaps in the sequence mean records were overwritten before we read
// them: they are counted as skipped ("overrun") and reading goes on.
func (s *Source) loop(ctx context.Context, r io.Reader, after int64, out chan<- sources.Line) error {
	buf := make([]byte, recordBuf)
	prev := after
	for {
		n, err := r.Read(buf)
		switch {
		case errors.Is(err, syscall.EPIPE):
			s.log.Debug("kernel log overrun")
			continue // the next read returns the oldest record left; the gap counts them
		case err != nil:
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		rec := buf[:n]
		seq, ok := seqOf(rec)
		if ok && int64(seq) <= after {
			continue
		}
		msg, t, labels, err := ParseRecord(rec, s.boot)
		if err != nil {
			s.undecodable.Inc()
			s.log.Debug("kernel log record skipped", zap.Error(err))
			continue
		}
		if prev >= 0 && int64(seq) > prev+1 {
			s.overrun.Add(float64(int64(seq) - prev - 1))
		}
		prev = int64(seq)
		l := sources.Line{
			Source: s.name, Stream: s.path, Text: msg, Time: t, Labels: labels,
			Cursor: sources.Cursor{Stream: s.path, Pos: s.bootID + ":" + strconv.FormatUint(seq, 10)},
		}
		s.read.Inc() // before the send: whoever has the line can see it counted
		select {
		case out <- l:
		case <-ctx.Done():
			return nil
		}
		s.lag.Set(s.now().Sub(t).Seconds())
		s.mu.Lock()
		s.last, s.sent = seq, true
		s.mu.Unlock()
	}
}

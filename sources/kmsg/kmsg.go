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

// The kernel log is character device 1:11 (the mem driver's kmsg), wherever it is
// mounted.
const kmsgMajor, kmsgMinor = 1, 11

// maxGarbage is how many reads in a row may return something that is not a kernel
// log record before the device is taken for something else: the kernel hands out
// only whole records.
const maxGarbage = 1000

// errNotKmsg says the device returns no kernel log records.
var errNotKmsg = errors.New("returns no kernel log records: it is not the kernel log (/dev/kmsg)")

// Source reads kernel log records. Its cursor Pos is "<boot id>:<seq>" (seq -1:
// before the first record); a checkpoint from an earlier boot resumes at the start of
// the ring buffer.
type Source struct {
	opened     func() // Deps.Opened: a run has opened the device
	name, path string
	pos        *sources.Positions
	start      sources.StartAt
	boot       time.Time // wall time at boot: record times are offsets from it
	bootID     string
	log        *zap.Logger

	undecodable, overrun prometheus.Counter
}

var _ sources.Source = (*Source)(nil)

// New makes a kmsg source named d.Name. The device is opened by Run; d.Checkpoints
// may be nil (no checkpoints) and a nil d.Metrics counts into unregistered metrics.
// d.Log is named with the source by the caller; d.Opened is called when a run has
// opened the device.
func New(c Config, d sources.Deps) (*Source, error) {
	name, cp, m, log := d.Name, d.Checkpoints, d.Metrics, d.Log
	if log == nil {
		log = zap.NewNop()
	}
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
		name: name, path: path, start: start,
		pos:         sources.NewPositions(name, cp, m),
		boot:        time.Now().Add(-time.Duration(ts.Nano())),
		bootID:      strings.TrimSpace(string(id)),
		log:         log.With(zap.String("stream", path)),
		undecodable: m.LinesSkipped.WithLabelValues(name, "undecodable"),
		overrun:     m.LinesSkipped.WithLabelValues(name, "overrun"),
		opened:      d.Opened,
	}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.name }

// ReportsOpened implements sources.Opener: a run says when it has opened the device.
func (s *Source) ReportsOpened() {}

// Run reads records until ctx is done (returning nil) or the device fails.
func (s *Source) Run(ctx context.Context, out chan<- *sources.Batch) error {
	st, after, found, err := s.position(ctx)
	if err != nil {
		return err
	}
	// Non-blocking, so the runtime poller waits for records and a deadline ends the wait.
	fd, err := syscall.Open(s.path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	if err := checkDevice(fd, s.path); err != nil {
		syscall.Close(fd)
		return err
	}
	fromEnd := !found && s.start == sources.StartAtEnd
	if fromEnd {
		end, err := skipToEnd(fd)
		if err != nil {
			syscall.Close(fd)
			return fmt.Errorf("read to the end of %s: %w", s.path, err)
		}
		after = end
	}
	if !found {
		// No position yet: where reading begins is recorded before the first record
		// is sent, so a restart before one goes on from here.
		st.Discovered(s.cursor(after))
		if err := s.pos.Record(ctx); err != nil {
			syscall.Close(fd)
			return err
		}
	}
	f := os.NewFile(uintptr(fd), s.path)
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	s.log.Info("reading the kernel log", zap.Bool("resumed", after >= 0), zap.Bool("from_end", fromEnd))
	if s.opened != nil {
		s.opened()
	}
	err = s.loop(ctx, f, st, after, out)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// checkDevice refuses a file that is not the kernel log: reading /dev/zero or a
// regular file as records would spin, or read garbage, without end.
func checkDevice(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("%s is not the kernel log: not a character device (/dev/kmsg is character device %d:%d)", path, kmsgMajor, kmsgMinor)
	}
	if maj, mnr := unix.Major(st.Rdev), unix.Minor(st.Rdev); maj != kmsgMajor || mnr != kmsgMinor {
		return fmt.Errorf("%s is not the kernel log: character device %d:%d, /dev/kmsg is %d:%d", path, maj, mnr, kmsgMajor, kmsgMinor)
	}
	return nil
}

// cursor is the position after record seq of this boot.
func (s *Source) cursor(seq int64) string {
	return s.bootID + ":" + strconv.FormatInt(seq, 10)
}

// position says where to start: after seq (-1: no record to skip); found is false
// when the stream has no position yet (start_at decides).
func (s *Source) position(ctx context.Context) (st *sources.Stream, after int64, found bool, err error) {
	st, pos, ok, err := s.pos.Resume(ctx, s.path)
	if err != nil {
		return nil, 0, false, err
	}
	if ok {
		boot, seq, found := strings.Cut(pos, ":")
		n, perr := strconv.ParseInt(seq, 10, 64)
		switch {
		case !found || perr != nil || n < -1:
			s.log.Warn("ignoring a malformed checkpoint")
		case boot != s.bootID:
			return st, -1, true, nil // a new boot: every record in the buffer is new
		default:
			return st, n, true, nil
		}
	}
	return st, -1, false, nil
}

// skipToEnd reads the records already in the buffer of the non-blocking fd and returns
// the last one's seq (-1 when there is none); the next read returns a new record.
// Reading them, rather than seeking to the end, tells where the end was, so a later
// Run can go on from there.
func skipToEnd(fd int) (int64, error) {
	buf := make([]byte, recordBuf)
	end := int64(-1)
	for garbage := 0; ; {
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
		seq, ok := seqOf(buf[:n])
		if !ok {
			if garbage++; garbage >= maxGarbage {
				return 0, errNotKmsg
			}
			continue
		}
		garbage = 0
		end = max(end, int64(seq))
	}
}

// loop reads one record per read until the reader fails. Records up to seq after are
// skipped; EPIPE and gaps in the sequence mean records were overwritten before we read
// them: they are counted as skipped ("overrun") and reading goes on.
func (s *Source) loop(ctx context.Context, r io.Reader, st *sources.Stream, after int64, out chan<- *sources.Batch) error {
	buf := make([]byte, recordBuf)
	prev := after
	for garbage := 0; ; {
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
			if garbage++; garbage >= maxGarbage {
				return fmt.Errorf("%s %w", s.path, errNotKmsg)
			}
			continue
		}
		garbage = 0
		if prev >= 0 && int64(seq) > prev+1 {
			s.overrun.Add(float64(int64(seq) - prev - 1))
		}
		prev = int64(seq)
		l := sources.Line{Text: msg, Time: t, Labels: labels, Cursor: sources.Cursor{Pos: s.cursor(int64(seq))}}
		if err := st.Send(ctx, out, l, true); err != nil {
			return nil
		}
	}
}

package sources

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Backoff bounds for Supervise: the first restart waits about minBackoff, each further
// failure doubles the wait up to maxBackoff. A run that stays up for stableAfter counts
// as recovered and resets the backoff.
const (
	minBackoff  = time.Second
	maxBackoff  = time.Minute
	stableAfter = 30 * time.Second
)

// Supervise runs s until ctx is done, restarting s.Run after an error with exponential
// backoff (1s doubling to 1m, with jitter). It logs at Warn when the source starts failing
// or fails differently, and at Info when a restarted run has stayed up long enough to
// count as recovered. It returns nil when ctx is done or when s.Run returns nil (the
// source has ended, as a reader does at EOF). Each failure counts in m.Failures, and
// m.Up says whether the source runs (nil m: unregistered metrics); st, when not nil,
// is kept as well. log is named with the source by the caller.
func Supervise(ctx context.Context, s Source, out chan<- *Batch, m *Metrics, st *Status, log *zap.Logger) error {
	if m == nil {
		m = NewMetrics(nil)
	}
	sv := supervisor{
		min: minBackoff, max: maxBackoff, stable: stableAfter,
		after:    time.After,
		jitter:   func(d time.Duration) time.Duration { return rand.N(d/4 + 1) }, //nolint:gosec // a backoff's jitter, not a secret
		log:      log,
		failures: m.Failures.WithLabelValues(s.Name()),
		up:       m.Up.WithLabelValues(s.Name()),
		status:   st,
	}
	return sv.run(ctx, s, out)
}

// supervisor holds Supervise's timing so tests can swap the clock.
type supervisor struct {
	min, max, stable time.Duration
	after            func(time.Duration) <-chan time.Time
	jitter           func(time.Duration) time.Duration // extra wait in [0, d/4]
	log              *zap.Logger
	failures         prometheus.Counter
	up               prometheus.Gauge
	status           *Status
}

// attempt is the outcome of one run of the source.
type attempt struct {
	err    error
	stable bool // it stayed up for the stable period before ending
}

func (sv *supervisor) run(ctx context.Context, s Source, out chan<- *Batch) error {
	backoff := sv.min
	var lastErr string // the failure being reported; "" while healthy
	for {
		sv.up.Set(1)
		sv.status.running(s.Name(), true)
		if _, ok := s.(Opener); !ok && lastErr == "" {
			// A source that does not say when it has opened counts as open when it
			// starts, and, after a failure, once a run has stayed up (runOnce).
			sv.status.Opened(s.Name())
		}
		a := sv.runOnce(ctx, s, out, lastErr != "")
		sv.up.Set(0)
		sv.status.running(s.Name(), false)
		if ctx.Err() != nil {
			return nil
		}
		if a.stable {
			backoff, lastErr = sv.min, ""
		}
		if a.err == nil {
			sv.log.Info("source ended")
			sv.status.Opened(s.Name()) // it read all there was: nothing to wait for
			return nil
		}
		sv.failures.Inc()
		sv.status.failed(s.Name(), a.err)
		if msg := a.err.Error(); msg != lastErr {
			sv.log.Warn("source failed, restarting", zap.Error(a.err), zap.Duration("backoff", backoff))
			lastErr = msg
		} else {
			sv.log.Debug("source failed again", zap.Error(a.err), zap.Duration("backoff", backoff))
		}
		select {
		case <-sv.after(backoff + sv.jitter(backoff)):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, sv.max)
	}
}

// runOnce runs the source once. While failing, it reports recovery once the run has
// stayed up for the stable period.
func (sv *supervisor) runOnce(ctx context.Context, s Source, out chan<- *Batch, failing bool) attempt {
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	select {
	case err := <-done:
		return attempt{err: err}
	case <-sv.after(sv.stable):
		if failing {
			sv.log.Info("source recovered")
			if _, ok := s.(Opener); !ok {
				sv.status.Opened(s.Name())
			}
		}
		return attempt{err: <-done, stable: true}
	}
}

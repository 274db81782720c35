package notifiers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/state"
)

// deliver makes one attempt at an entry and records its outcome in the store: acked,
// postponed with backoff, or dead-lettered. Only store errors are returned.
func (w *worker) deliver(ctx context.Context, e state.Entry) error {
	var inc incidents.Incident
	if err := json.Unmarshal(e.Incident, &inc); err != nil {
		return w.bury(e, fmt.Errorf("decode queued incident: %w", err))
	}
	actx, done := w.attemptContext(ctx)
	retry, err := w.n.Notify(actx, &inc)
	if err != nil && errors.Is(context.Cause(actx), errTimeout) {
		// Our deadline, whatever the notifier made of it: the endpoint may answer
		// in time on the next attempt.
		if errors.Is(err, errTimeout) {
			err = fmt.Errorf("after %s: %w", w.d.cfg.Timeout, err)
		} else {
			err = fmt.Errorf("%w after %s: %w", errTimeout, w.d.cfg.Timeout, err)
		}
		retry = true
	}
	done()
	switch {
	case err == nil:
		return w.ack(e)
	case retry:
		return w.postpone(e, err)
	}
	return w.bury(e, err)
}

// attemptContext gives an attempt its own deadline, detached from ctx so that an
// attempt in flight at shutdown is finished rather than cut off: once ctx is done it
// has only the grace period left.
func (w *worker) attemptContext(ctx context.Context) (context.Context, func()) {
	actx, cancelGrace := context.WithCancelCause(context.WithoutCancel(ctx))
	actx, cancelTimeout := context.WithTimeoutCause(actx, w.d.cfg.Timeout, errTimeout)
	var (
		mu    sync.Mutex
		grace *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		grace = time.AfterFunc(w.d.grace, func() { cancelGrace(errShutdown) })
	})
	return actx, func() {
		stop()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
		cancelTimeout()
		cancelGrace(nil)
	}
}

func (w *worker) ack(e state.Entry) error {
	if err := w.d.st.Ack(w.name, e.Seq); err != nil && !errors.Is(err, state.ErrNoEntry) {
		return fmt.Errorf("dispatch to %s: %w", w.name, err)
	}
	w.d.m.sent.WithLabelValues(w.name).Inc()
	if w.failing != "" {
		w.log.Info("delivery recovered", zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1))
		w.failing = ""
	}
	w.log.Debug("notification delivered", zap.String("incident", e.Key))
	return nil
}

func (w *worker) postpone(e state.Entry, cause error) error {
	var ra RetryAfter
	var asked time.Duration
	if errors.As(cause, &ra) {
		asked = ra.RetryAfter()
	}
	wait := w.d.cfg.backoff(e.Attempts+1, w.d.jitter(), asked)
	if err := w.d.st.Postpone(w.name, e.Seq, w.d.now().Add(wait), cause.Error()); err != nil && !errors.Is(err, state.ErrNoEntry) {
		return fmt.Errorf("dispatch to %s: %w", w.name, err)
	}
	w.d.m.fail(w.name, true)
	fields := []zap.Field{
		zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1),
		zap.Duration("retry_in", wait), zap.Error(cause),
	}
	// A repeating failure is logged when it starts and when it changes.
	if msg := cause.Error(); msg != w.failing {
		w.failing = msg
		w.log.Warn("delivery failed, will retry", fields...)
	} else {
		w.log.Debug("delivery failed, will retry", fields...)
	}
	return nil
}

func (w *worker) bury(e state.Entry, cause error) error {
	if err := w.d.st.Bury(w.name, e.Seq, cause.Error()); err != nil && !errors.Is(err, state.ErrNoEntry) {
		return fmt.Errorf("dispatch to %s: %w", w.name, err)
	}
	w.d.m.fail(w.name, false)
	w.d.m.dead.WithLabelValues(w.name).Inc()
	w.log.Error("delivery given up, notification moved to dead letters",
		zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1), zap.Error(cause))
	w.failing = ""
	w.setPending()
	return nil
}

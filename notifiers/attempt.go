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

// deliver makes one attempt at each entry of a round, side by side, and records their
// outcomes in the store in one transaction: acked, postponed with backoff, or
// dead-lettered. Only store errors are returned.
func (w *worker) deliver(ctx context.Context, round []state.Entry) error {
	results := make([]result, len(round))
	var wg sync.WaitGroup
	for i, e := range round {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.attempt(ctx, e)
		}()
	}
	wg.Wait()
	outs := make([]state.Outcome, len(round))
	for i, r := range results {
		outs[i] = w.outcome(round[i], r)
	}
	if err := w.settle(ctx, outs); err != nil {
		return err
	}
	for i, r := range results {
		w.report(round[i], r, outs[i])
	}
	delivered, buried := false, false
	for _, o := range outs {
		delivered = delivered || o.Kind == state.Delivered
		buried = buried || o.Kind == state.Buried
	}
	w.d.setStatus(w.name, NotifierState{Failing: w.failing, Dead: buried && !delivered})
	w.setPending()
	return nil
}

// settle records a round's outcomes. While the store refuses the write (a full disk)
// it tries again, every storeRetry, rather than deliver anything more from the store:
// an entry delivered but not recorded would go out again. It gives up only at
// shutdown (the entries then go out again after the restart: at least once).
func (w *worker) settle(ctx context.Context, outs []state.Outcome) error {
	for {
		_, err := w.d.st.Settle(w.name, outs)
		if err == nil {
			if w.storeErr != "" {
				w.log.Info("state store takes writes again: delivery goes on")
				w.storeErr = ""
			}
			return nil
		}
		if msg := err.Error(); msg != w.storeErr {
			w.log.Error("cannot record deliveries in the state store; trying again", zap.Error(err))
			w.storeErr = msg
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.d.after(storeRetry):
		}
	}
}

// storeRetry is how often a write the store refused is tried again.
const storeRetry = 5 * time.Second

// result is what one attempt came to.
type result struct {
	retry bool
	err   error
}

// attempt makes one delivery attempt at an entry under its own deadline.
func (w *worker) attempt(ctx context.Context, e state.Entry) result {
	var inc incidents.Incident
	if err := json.Unmarshal(e.Incident, &inc); err != nil {
		return result{err: fmt.Errorf("decode queued incident: %w", err)}
	}
	actx, done := w.attemptContext(ctx)
	defer done()
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
	return result{retry: retry, err: err}
}

// outcome turns an attempt's result into what the store records.
func (w *worker) outcome(e state.Entry, r result) state.Outcome {
	switch {
	case r.err == nil:
		return state.Outcome{Seq: e.Seq, Kind: state.Delivered}
	case r.retry:
		var ra RetryAfter
		var asked time.Duration
		if errors.As(r.err, &ra) {
			asked = ra.RetryAfter()
		}
		wait := w.d.cfg.backoff(e.Attempts+1, w.d.jitter(), asked)
		return state.Outcome{Seq: e.Seq, Kind: state.Postponed, Next: w.d.now().Add(wait), Err: r.err.Error()}
	}
	return state.Outcome{Seq: e.Seq, Kind: state.Buried, Err: r.err.Error()}
}

// report counts and logs an outcome once it is on disk. A run of failures is logged
// when it starts and when its error changes, and its end when a delivery succeeds.
func (w *worker) report(e state.Entry, r result, o state.Outcome) {
	switch o.Kind {
	case state.Delivered:
		w.d.m.sent.WithLabelValues(w.name).Inc()
		if w.failing != "" {
			w.log.Info("delivery recovered", zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1))
			w.failing = ""
		}
		w.log.Debug("notification delivered", zap.String("incident", e.Key))
	case state.Postponed:
		w.d.m.fail(w.name, true)
		fields := []zap.Field{
			zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1),
			zap.Duration("retry_in", o.Next.Sub(w.d.now())), zap.Error(r.err),
		}
		if msg := r.err.Error(); msg != w.failing {
			w.failing = msg
			w.log.Warn("delivery failed, will retry", fields...)
		} else {
			w.log.Debug("delivery failed, will retry", fields...)
		}
	case state.Buried:
		w.d.m.fail(w.name, false)
		w.d.m.dead.WithLabelValues(w.name).Inc()
		w.log.Error("delivery given up, notification moved to dead letters",
			zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1), zap.Error(r.err))
		w.failing = ""
	}
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

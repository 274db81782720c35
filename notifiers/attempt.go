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

// pipe is a worker's attempts in flight and the outcomes on their way to the store.
// Attempts end one by one; the outcomes that ended meanwhile are recorded together,
// one transaction (one fsync) at a time, while other attempts go on, so a burst is not
// sent in rounds each waiting for the last one's fsync. An entry stays busy, and holds
// back the later entries of its key, until its outcome is on disk: one incident's
// notifications go out one at a time and in order, even across a crash.
type pipe struct {
	busy     map[uint64]bool // entries in flight or whose outcome is not on disk yet
	keys     map[string]int  // their incident keys
	inFlight int
	ended    chan ended // attempts report here
	waiting  []ended    // ended, their outcomes not yet being recorded
	settling bool       // a batch of outcomes is being recorded
	settled  chan settledBatch
	retryAt  <-chan time.Time // the store refused the last batch: try again then
}

// ended is one attempt that came to an end, and the outcome to record.
type ended struct {
	e state.Entry
	r result
	o state.Outcome
}

// settledBatch is a batch of outcomes the store was asked to record, and its answer.
type settledBatch struct {
	batch []ended
	err   error
}

func newPipe(limit int) *pipe {
	return &pipe{
		busy: map[uint64]bool{}, keys: map[string]int{},
		ended: make(chan ended, limit), settled: make(chan settledBatch, 1),
	}
}

// idle reports whether nothing is in flight or on its way to the store.
func (p *pipe) idle() bool { return p.inFlight == 0 && !p.settling && len(p.waiting) == 0 }

func (p *pipe) release(b []ended) {
	for _, x := range b {
		delete(p.busy, x.e.Seq)
		if p.keys[x.e.Key]--; p.keys[x.e.Key] <= 0 {
			delete(p.keys, x.e.Key)
		}
	}
}

// start makes one attempt at e beside the others in flight.
func (w *worker) start(ctx context.Context, p *pipe, e state.Entry) {
	p.busy[e.Seq] = true
	p.keys[e.Key]++
	p.inFlight++
	go func() { p.ended <- ended{e: e, r: w.attempt(ctx, e)} }()
}

// end takes an attempt that ended, and the others that ended meanwhile, towards the
// store. A failure that may pass turns the worker to one probe at a time at once, not
// only once it is on disk.
func (w *worker) end(p *pipe, x ended) {
	for {
		p.inFlight--
		x.o = w.outcome(x.e, x.r)
		w.down = x.o.Kind == state.Postponed
		p.waiting = append(p.waiting, x)
		select {
		case x = <-p.ended:
			continue
		default:
		}
		return
	}
}

// settleNext starts recording the outcomes waiting, unless a batch is being recorded
// (they go with the next one) or the store refused the last and its retry is not due.
// At shutdown a batch the store refuses is given up: its entries go out again after a
// restart (at least once).
func (w *worker) settleNext(p *pipe, stopping bool) {
	if stopping && p.retryAt != nil {
		p.release(p.waiting)
		p.waiting, p.retryAt = nil, nil
	}
	if p.settling || len(p.waiting) == 0 || p.retryAt != nil {
		return
	}
	batch := p.waiting
	p.waiting, p.settling = nil, true
	outs := make([]state.Outcome, len(batch))
	for i, x := range batch {
		outs[i] = x.o
	}
	go func() {
		_, err := w.d.st.Settle(w.name, outs)
		p.settled <- settledBatch{batch: batch, err: err}
	}()
}

// finish reports a batch the store recorded, and frees its entries' keys. While the
// store refuses the write (a full disk) the batch is tried again every storeRetry, and
// nothing more is sent from the store meanwhile: an entry delivered but not recorded
// would go out again.
func (w *worker) finish(ctx context.Context, p *pipe, s settledBatch) {
	p.settling = false
	if s.err != nil {
		if msg := s.err.Error(); msg != w.storeErr {
			w.log.Error("cannot record deliveries in the state store; trying again", zap.Error(s.err))
			w.storeErr = msg
		}
		if ctx.Err() != nil {
			p.release(s.batch)
			return
		}
		p.waiting = append(s.batch, p.waiting...)
		p.retryAt = w.d.after(storeRetry)
		return
	}
	if w.storeErr != "" {
		w.log.Info("state store takes writes again: delivery goes on")
		w.storeErr = ""
	}
	p.release(s.batch)
	delivered, buried := false, false
	for _, x := range s.batch {
		w.report(x.e, x.r, x.o)
		delivered = delivered || x.o.Kind == state.Delivered
		buried = buried || x.o.Kind == state.Buried
	}
	w.d.setStatus(w.name, NotifierState{Failing: w.failing, Dead: buried && !delivered})
	w.setPending()
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
	actx, done := w.attemptContext(ctx)
	defer done()
	retry, err := w.notify(actx, e)
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

// notify hands the entry to the receiver: as queued to one that sends it so, else
// decoded.
func (w *worker) notify(ctx context.Context, e state.Entry) (retry bool, err error) {
	if enc, ok := w.n.(Encoded); ok && e.Status != "" {
		handled, retry, err := enc.NotifyEncoded(ctx, e.Key, incidents.Status(e.Status), e.Incident)
		if handled {
			return retry, err
		}
	}
	var inc incidents.Incident
	if err := json.Unmarshal(e.Incident, &inc); err != nil {
		return false, fmt.Errorf("decode queued incident: %w", err)
	}
	return w.n.Notify(ctx, &inc)
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

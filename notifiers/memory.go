package notifiers

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/state"
)

// memLane holds what a receiver is to be told that the store could not take (a full
// disk): the pipeline offers the notifications of a batch it could not commit, and
// they are delivered from memory, in order, one at a time, with the same backoff, until
// the store takes writes again and the pipeline takes back what is left (Withdraw) to
// commit it with its cursors. Nothing waits for the disk to be freed.
type memLane struct {
	mu   sync.Mutex
	q    []state.Entry
	seq  uint64
	wake chan struct{}
}

func newMemLane() *memLane { return &memLane{wake: make(chan struct{}, 1)} }

func (l *memLane) add(ds []state.Delivery, now time.Time, max int) (dropped []state.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range ds {
		l.seq++
		l.q = append(l.q, state.Entry{Seq: l.seq, Notifier: d.Notifier, Key: d.Key, Status: d.Status, Incident: d.Incident, Enqueued: now})
	}
	if over := len(l.q) - max; max > 0 && over > 0 {
		dropped = append(dropped, l.q[:over]...)
		l.q = append(l.q[:0], l.q[over:]...)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return dropped
}

// head returns the oldest entry, or how long until it is due.
func (l *memLane) head(now time.Time) (e state.Entry, wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 {
		return state.Entry{}, 0, false
	}
	if d := l.q[0].NextAttempt.Sub(now); d > 0 {
		return state.Entry{}, d, false
	}
	return l.q[0], 0, true
}

// settle records an attempt's outcome, if the entry is still there (not withdrawn).
func (l *memLane) settle(o state.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 || l.q[0].Seq != o.Seq {
		return
	}
	if o.Kind == state.Postponed {
		l.q[0].Attempts++
		l.q[0].NextAttempt, l.q[0].LastError = o.Next, o.Err
		return
	}
	l.q = l.q[1:]
}

// peek returns what the lane holds, and the last seq in it.
func (l *memLane) peek() ([]state.Delivery, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]state.Delivery, 0, len(l.q))
	for _, e := range l.q {
		out = append(out, state.Delivery{Notifier: e.Notifier, Key: e.Key, Status: e.Status, Incident: e.Incident})
	}
	return out, l.seq
}

// drop removes the entries up to seq: they are in the store now.
func (l *memLane) drop(upTo uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.q) && l.q[i].Seq <= upTo {
		i++
	}
	l.q = l.q[i:]
}

// Offer hands the receivers notifications the store could not take, to be delivered
// from memory until Withdraw. A receiver not configured is left out; past the outbox
// bound the oldest are dropped, loudly, as the store's outbox would.
func (d *Dispatcher) Offer(ds []state.Delivery) {
	by := map[string][]state.Delivery{}
	for _, dl := range ds {
		if _, ok := d.mem[dl.Notifier]; ok {
			by[dl.Notifier] = append(by[dl.Notifier], dl)
		}
	}
	for name, ds := range by {
		dropped := d.mem[name].add(ds, d.now(), d.cfg.MaxEntries)
		if len(dropped) == 0 {
			continue
		}
		d.m.dropped.WithLabelValues(name, state.DropMaxEntries).Add(float64(len(dropped)))
		d.log.Error("outbox bound reached while the store refuses writes, notifications dropped undelivered",
			zap.String("notifier", name), zap.Int("dropped", len(dropped)), zap.String("incident", dropped[len(dropped)-1].Key))
	}
}

// Unsent is what Offer handed over and was not delivered yet.
type Unsent struct {
	Deliveries []state.Delivery // oldest first, by notifier
	upTo       map[string]uint64
	d          *Dispatcher
}

// Unsent returns what the memory lanes still hold, to be committed to the store with
// the cursors of its lines; they keep delivering it until Stored says it is in the
// store.
func (d *Dispatcher) Unsent() Unsent {
	u := Unsent{upTo: map[string]uint64{}, d: d}
	for _, name := range d.names() {
		ds, seq := d.mem[name].peek()
		u.Deliveries = append(u.Deliveries, ds...)
		u.upTo[name] = seq
	}
	return u
}

// Stored takes what u holds out of the memory lanes: it was committed to the store,
// which delivers it from now on. One delivered from memory meanwhile goes out again
// from the store (at least once).
func (u Unsent) Stored() {
	for name, seq := range u.upTo {
		u.d.mem[name].drop(seq)
	}
}

// runMemory delivers the lane until ctx is done.
func (w *worker) runMemory(ctx context.Context, l *memLane) error {
	for ctx.Err() == nil {
		e, wait, ok := l.head(w.d.now())
		if !ok {
			var later <-chan time.Time
			if wait > 0 {
				later = w.d.after(wait)
			}
			select {
			case <-l.wake:
			case <-later:
			case <-ctx.Done():
			}
			continue
		}
		r := w.attempt(ctx, e)
		o := w.outcome(e, r)
		l.settle(o)
		if o.Kind == state.Buried {
			// Nowhere to keep it while the store refuses writes: said, and counted.
			w.d.m.fail(w.name, false)
			w.d.m.dead.WithLabelValues(w.name).Inc()
			w.log.Error("delivery given up; the store refuses writes, so it is not kept as a dead letter",
				zap.String("incident", e.Key), zap.Int("attempts", e.Attempts+1), zap.Error(r.err))
			continue
		}
		w.report(e, r, o)
	}
	return nil
}

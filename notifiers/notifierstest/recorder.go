// Package notifierstest provides a fake notifier for tests of what delivers
// notifications: a Recorder that answers from a script and records every attempt.
package notifierstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Result is one scripted answer of Notify.
type Result struct {
	Retry bool
	Err   error
	// Hold makes Notify wait until Hold is closed (or its context ends, answering with
	// the context's error and retry=true): an endpoint that does not answer.
	Hold <-chan struct{}
}

// Attempt is one call of Notify as the Recorder saw it.
type Attempt struct {
	Key    string
	Status incidents.Status
	At     time.Time // by the Recorder's clock
	Retry  bool
	Err    error
}

// Recorder is a notifiers.Notifier that answers each call with the next scripted
// Result, and with success once the script is used up. It is safe for concurrent use.
type Recorder struct {
	now func() time.Time

	mu        sync.Mutex
	script    []Result
	attempts  []Attempt
	delivered []*incidents.Incident
	changed   chan struct{} // closed and replaced after every attempt
}

var _ notifiers.Notifier = (*Recorder)(nil)

// New makes a Recorder answering with script, then with success.
func New(script ...Result) *Recorder {
	return &Recorder{now: time.Now, script: script, changed: make(chan struct{})}
}

// WithClock makes the Recorder stamp attempts with now (a test's fake clock).
func (r *Recorder) WithClock(now func() time.Time) *Recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
	return r
}

// Script appends answers to the script.
func (r *Recorder) Script(rs ...Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, rs...)
}

// Notify implements notifiers.Notifier.
func (r *Recorder) Notify(ctx context.Context, inc *incidents.Incident) (bool, error) {
	r.mu.Lock()
	var res Result
	if len(r.script) > 0 {
		res, r.script = r.script[0], r.script[1:]
	}
	now := r.now
	r.mu.Unlock()

	if res.Hold != nil {
		select {
		case <-res.Hold:
		case <-ctx.Done():
			res = Result{Retry: true, Err: context.Cause(ctx)}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, Attempt{Key: inc.Key, Status: inc.Status, At: now(), Retry: res.Retry, Err: res.Err})
	if res.Err == nil {
		cp := *inc
		r.delivered = append(r.delivered, &cp)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return res.Retry, res.Err
}

// Attempts returns every attempt so far, in order.
func (r *Recorder) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

// Delivered returns the incidents of the successful attempts, in order.
func (r *Recorder) Delivered() []*incidents.Incident {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*incidents.Incident(nil), r.delivered...)
}

// Keys returns the keys of the delivered incidents, in order.
func (r *Recorder) Keys() []string {
	var keys []string
	for _, inc := range r.Delivered() {
		keys = append(keys, inc.Key)
	}
	return keys
}

// WaitDelivered waits until at least n incidents were delivered and returns them; it
// fails t after a generous deadline.
func (r *Recorder) WaitDelivered(t testing.TB, n int) []*incidents.Incident {
	t.Helper()
	r.wait(t, func() bool { return len(r.delivered) >= n }, "%d deliveries", n)
	return r.Delivered()
}

// WaitAttempts waits until at least n attempts were made and returns them; it fails t
// after a generous deadline.
func (r *Recorder) WaitAttempts(t testing.TB, n int) []Attempt {
	t.Helper()
	r.wait(t, func() bool { return len(r.attempts) >= n }, "%d attempts", n)
	return r.Attempts()
}

// deadline bounds every wait: long enough for a loaded CI machine under -race.
const deadline = 30 * time.Second

func (r *Recorder) wait(t testing.TB, done func() bool, format string, args ...any) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		r.mu.Lock()
		ok, changed := done(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("notifierstest: timed out waiting for "+format, args...)
		}
	}
}

package notifiers

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

// SetClock swaps the Dispatcher's clock and sleeper (tests run on virtual time).
func SetClock(d *Dispatcher, now func() time.Time, after func(time.Duration) <-chan time.Time) {
	d.now, d.after = now, after
}

// SetJitter swaps the Dispatcher's jitter source.
func SetJitter(d *Dispatcher, jitter func() float64) { d.jitter = jitter }

// SetGrace swaps how long an attempt may go on after shutdown began.
func SetGrace(d *Dispatcher, grace time.Duration) { d.grace = grace }

// Backoff exposes the backoff computation.
func (c DispatcherConfig) Backoff(failures int, jitter float64, retryAfter time.Duration) time.Duration {
	return c.backoff(failures, jitter, retryAfter)
}

// Round returns what the next round of a notifier's worker would send (as key#count)
// and how long it would wait when nothing is due, as if it were failing or not.
func Round(t testing.TB, d *Dispatcher, name string, failing bool) ([]string, time.Duration) {
	t.Helper()
	w := &worker{d: d, name: name, n: d.ns[name], log: d.log, limit: d.cfg.Concurrency}
	w.down = failing
	round, wait, err := w.pick(nil, nil, w.limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range round {
		var inc incidents.Incident
		if err := json.Unmarshal(e.Incident, &inc); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s#%d", inc.Key, inc.Count))
	}
	return out, wait
}

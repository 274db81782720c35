package notifiers

import "time"

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

// Package notifiers delivers incidents: the Notifier interface every receiver
// implements, the optional interfaces some add (Runner, Primer), the Dispatcher that
// owns the durable outbox, retries and dead letters, the Router, and the shared parts
// of HTTP receivers (HTTPConfig, Post, redaction, size budgets).
package notifiers

import (
	"context"
	"time"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

// Notifier makes one delivery attempt; retry says whether it may succeed later
// (timeout, 408, 429, 5xx). The Dispatcher owns the outbox, timeouts, backoff and
// failure logging. Notify must not retry by itself.
type Notifier interface {
	Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error)
}

// RetryAfter is an error that carries how long the endpoint asked us to wait
// (Retry-After, Slack's rate limit).
type RetryAfter interface {
	error
	RetryAfter() time.Duration
}

// KV is a small durable map a receiver keeps across restarts (Slack thread ids per
// incident key). The state store provides one per receiver.
type KV interface {
	Get(key string) (val string, ok bool, err error)
	Put(key, val string) error
	Delete(key string) error
}

// The optional interfaces below are a receiver's extras; the Dispatcher checks for
// them, so a receiver gets them by implementing the method.

// Runner is a receiver with work of its own between notifications (Alertmanager
// re-sends its active alerts): the Dispatcher runs it beside the receiver's queue, until
// delivery stops.
type Runner interface {
	Run(ctx context.Context) error
}

// Primer is a receiver that keeps a live view of open incidents (Alertmanager): before
// delivery starts, the Dispatcher hands it the incidents still open from before a
// restart that are routed to it.
type Primer interface {
	Prime(incs []*incidents.Incident)
}

// Concurrency is a receiver that takes fewer attempts at once than the outbox's
// concurrency (a vendor's rate limit per channel): the Dispatcher sends it at most
// MaxConcurrency notifications side by side.
type Concurrency interface {
	MaxConcurrency() int
}

// Encoded is a receiver whose request body is the incident's cowbell.incident/v1 JSON
// itself (the webhook): the Dispatcher hands it the JSON as it was queued, sparing it
// decoding the incident only to encode it again, the largest cost of an attempt.
type Encoded interface {
	// NotifyEncoded makes one attempt at the incident queued as body (what
	// json.Marshal made of it), whose key and status are queued beside it. handled is
	// false when it needs the incident itself (a body past its size limit, to be cut):
	// the Dispatcher then calls Notify. Queued incidents are never tests.
	NotifyEncoded(ctx context.Context, key string, status incidents.Status, body []byte) (handled, retry bool, err error)
}

// Alerter is a receiver whose firing notification opens an alert at the vendor that
// stays open, and may page someone, until a resolve: PagerDuty, Zenduty, Alertmanager.
// `cowbell notify test` resolves its test alert right after sending it.
type Alerter interface {
	OpensAlerts() bool
}

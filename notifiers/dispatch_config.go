package notifiers

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// DispatcherConfig tunes delivery: the per-attempt timeout, the retry backoff and the
// outbox bound. It is the `outbox:` section of the configuration.
type DispatcherConfig struct {
	Timeout    time.Duration `yaml:"timeout"`     // per attempt
	MinBackoff time.Duration `yaml:"min_backoff"` // wait after the first failure
	MaxBackoff time.Duration `yaml:"max_backoff"` // the backoff doubles up to this
	MaxEntries int           `yaml:"max_entries"` // outbox bound per notifier
	MaxAge     time.Duration `yaml:"max_age"`     // oldest entry kept
	// Concurrency is how many notifications to one receiver may be in flight at
	// once, each of a different incident (one incident's go out in order).
	Concurrency int `yaml:"concurrency"`
}

// DefaultDispatcherConfig is the configuration a missing or partial `outbox:`
// section falls back to.
var DefaultDispatcherConfig = DispatcherConfig{
	Timeout:     10 * time.Second,
	MinBackoff:  time.Second,
	MaxBackoff:  5 * time.Minute,
	MaxEntries:  10000,
	MaxAge:      72 * time.Hour,
	Concurrency: 8,
}

// maxConcurrency bounds outbox.concurrency: attempts in flight to one receiver.
const maxConcurrency = 64

// maxRetryAfter caps how long an endpoint's Retry-After may hold delivery, so a
// broken header cannot stall a notifier for days.
const maxRetryAfter = time.Hour

// UnmarshalYAML decodes a delivery section over the defaults and checks it.
func (c *DispatcherConfig) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultDispatcherConfig
	type plain DispatcherConfig
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	switch {
	case c.Timeout <= 0:
		return yamlpos.At(n, "timeout must be positive")
	case c.MinBackoff <= 0:
		return yamlpos.At(n, "min_backoff must be positive")
	case c.MaxBackoff < c.MinBackoff:
		return yamlpos.At(n, "max_backoff (%s) must not be less than min_backoff (%s)", c.MaxBackoff, c.MinBackoff)
	case c.MaxEntries <= 0:
		return yamlpos.At(n, "max_entries must be positive")
	case c.MaxAge <= 0:
		return yamlpos.At(n, "max_age must be positive")
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return yamlpos.At(yamlpos.Value(n, "concurrency"), "concurrency must be between 1 and %d", maxConcurrency)
	}
	return nil
}

// withDefaults fills zero fields, for configurations built in code.
func (c DispatcherConfig) withDefaults() DispatcherConfig {
	d := DefaultDispatcherConfig
	if c.Timeout > 0 {
		d.Timeout = c.Timeout
	}
	if c.MinBackoff > 0 {
		d.MinBackoff = c.MinBackoff
	}
	if c.MaxBackoff > 0 {
		d.MaxBackoff = c.MaxBackoff
	}
	if d.MaxBackoff < d.MinBackoff {
		d.MaxBackoff = d.MinBackoff
	}
	if c.MaxEntries > 0 {
		d.MaxEntries = c.MaxEntries
	}
	if c.MaxAge > 0 {
		d.MaxAge = c.MaxAge
	}
	if c.Concurrency > 0 {
		d.Concurrency = c.Concurrency
	}
	return d
}

// backoff is the wait before the next attempt after failures consecutive failures:
// MinBackoff doubled per failure up to MaxBackoff, with "equal jitter" (half fixed,
// half random by jitter in [0,1)) so many sidecars do not retry in step. An endpoint's
// own wait (Retry-After) is honoured when it is longer.
func (c DispatcherConfig) backoff(failures int, jitter float64, retryAfter time.Duration) time.Duration {
	d := c.MinBackoff
	for i := 1; i < failures && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	d = d/2 + time.Duration(jitter*float64(d/2))
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return d
}

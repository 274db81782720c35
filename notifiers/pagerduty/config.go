package pagerduty

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// EventsURL is the Events API v2 endpoint.
const EventsURL = "https://events.pagerduty.com/v2/enqueue"

// Config configures a PagerDuty Events API v2 receiver.
//
//	type: pagerduty
//	routing_key_file: /run/secrets/pagerduty-key
//	timeout: 10s
type Config struct {
	// RoutingKey is the integration key of an Events API v2 integration;
	// RoutingKeyFile is its _file twin.
	RoutingKey     secret.Secret `yaml:"routing_key"`
	RoutingKeyFile string        `yaml:"routing_key_file"`
	// URL is the Events API endpoint (EventsURL unless overridden, e.g. for a
	// regional endpoint or a test server).
	URL string `yaml:"url"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{URL: EventsURL, Timeout: 10 * time.Second}

// UnmarshalYAML sets defaults, decodes strictly and checks the combination of keys.
// It does no I/O: a routing_key_file is read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if (c.RoutingKey == "") == (c.RoutingKeyFile == "") {
		return yamlpos.At(n, "exactly one of routing_key and routing_key_file is required")
	}
	if err := notifiers.CheckURL(c.URL); err != nil {
		return yamlpos.At(yamlpos.Value(n, "url"), "url: %w", err)
	}
	if c.Timeout <= 0 {
		return yamlpos.At(yamlpos.Value(n, "timeout"), "timeout must be positive")
	}
	return nil
}

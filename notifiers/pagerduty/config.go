package pagerduty

import (
	"fmt"

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

	notifiers.HTTPConfig `yaml:",inline"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{URL: EventsURL, HTTPConfig: notifiers.DefaultHTTPConfig}

// UnmarshalYAML sets defaults, decodes strictly and checks the combination of keys.
// It does no I/O: a routing_key_file is read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	return yamlpos.Place(n, c.check())
}

// Describe implements notifiers.Config.
func (c Config) Describe() string {
	if c.URL != "" && c.URL != EventsURL {
		return "pagerduty events v2 at " + c.URL
	}
	return "pagerduty events v2"
}

func (c Config) check() error {
	if err := secret.Check("routing_key", c.RoutingKey, c.RoutingKeyFile, true); err != nil {
		return err
	}
	if c.URL != "" {
		if err := notifiers.CheckURL(c.URL); err != nil {
			return yamlpos.Field("url", fmt.Errorf("url: %w", err))
		}
	}
	return c.HTTPConfig.Check()
}

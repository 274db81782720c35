package zenduty

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Config configures a Zenduty Generic Integration receiver.
//
//	type: zenduty
//	url_file: /run/secrets/zenduty-url  # https://www.zenduty.com/api/events/<integration_key>/
//	timeout: 10s
type Config struct {
	// URL is the integration's webhook URL; it holds the integration key, so it is
	// a secret. URLFile is its _file twin.
	URL     secret.Secret `yaml:"url"`
	URLFile string        `yaml:"url_file"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{Timeout: 10 * time.Second}

// UnmarshalYAML sets defaults, decodes strictly and checks the combination of keys.
// It does no I/O: a url_file is read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if (c.URL == "") == (c.URLFile == "") {
		return yamlpos.At(n, "exactly one of url and url_file is required")
	}
	if c.URL != "" {
		if err := notifiers.CheckURL(c.URL.Reveal()); err != nil {
			return yamlpos.At(yamlpos.Value(n, "url"), "url: %w", err)
		}
	}
	if c.Timeout <= 0 {
		return yamlpos.At(yamlpos.Value(n, "timeout"), "timeout must be positive")
	}
	return nil
}

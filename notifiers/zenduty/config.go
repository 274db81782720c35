package zenduty

import (
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

	notifiers.HTTPConfig `yaml:",inline"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{HTTPConfig: notifiers.DefaultHTTPConfig}

// UnmarshalYAML sets defaults, decodes strictly and checks the combination of keys.
// It does no I/O: a url_file is read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	return yamlpos.Place(n, c.check())
}

// Describe implements notifiers.Config.
func (c Config) Describe() string { return "zenduty generic integration" }

func (c Config) check() error {
	if err := notifiers.CheckSecretURL("url", c.URL, c.URLFile, true); err != nil {
		return err
	}
	return c.HTTPConfig.Check()
}

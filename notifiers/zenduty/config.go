package zenduty

import (
	"net/url"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
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
		if err := checkURL(c.URL.Reveal()); err != nil {
			return yamlpos.At(valueOf(n, "url"), "url: %w", err)
		}
	}
	if c.Timeout <= 0 {
		return yamlpos.At(valueOf(n, "timeout"), "timeout must be positive")
	}
	return nil
}

// checkURL accepts absolute http(s) URLs. Its errors never quote the URL: it holds
// the integration key.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errNotHTTP
	}
	return nil
}

// valueOf returns the value node of key in mapping n, or n itself when key is absent,
// so an error points as close to its cause as it can.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

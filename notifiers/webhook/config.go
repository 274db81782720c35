package webhook

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Config is a webhook receiver's configuration.
type Config struct {
	// URL is where incidents are posted; it often holds a token, so it is a secret.
	URL     secret.Secret `yaml:"url"`
	URLFile string        `yaml:"url_file"`
	// Headers are sent with every request (an Authorization header, say); they must
	// not replace the headers cowbell sets.
	Headers map[string]string `yaml:"headers"`
	// Secret signs each body (X-Cowbell-Signature, see docs/webhook.md).
	Secret     secret.Secret `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
	// MaxBodyBytes caps a request body: a larger incident is cut to fit, in the order
	// notifiers.Fit states, and says what was cut. Your receiver may read this much.
	MaxBodyBytes int `yaml:"max_body_bytes"`

	notifiers.HTTPConfig `yaml:",inline"`
}

// Body size cap: the default, and the least a cut incident always fits in.
const (
	DefaultMaxBodyBytes = 1 << 20
	MinMaxBodyBytes     = 16 << 10
)

// DefaultConfig holds the defaults UnmarshalYAML starts from.
var DefaultConfig = Config{MaxBodyBytes: DefaultMaxBodyBytes, HTTPConfig: notifiers.DefaultHTTPConfig}

// UnmarshalYAML sets defaults, decodes strictly and checks. It does no I/O: url_file
// and secret_file are read by New.
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
	d := "webhook"
	if !c.Secret.Empty() || c.SecretFile != "" {
		d += ", signed"
	}
	return d
}

// check checks the keys and their combinations without I/O. Errors never quote the
// URL or a header value.
func (c Config) check() error {
	if err := notifiers.CheckSecretURL("url", c.URL, c.URLFile, true); err != nil {
		return err
	}
	if err := secret.Check("secret", c.Secret, c.SecretFile, false); err != nil {
		return err
	}
	if c.MaxBodyBytes != 0 && c.MaxBodyBytes < MinMaxBodyBytes {
		return yamlpos.Field("max_body_bytes", fmt.Errorf("max_body_bytes: %d is below %d", c.MaxBodyBytes, MinMaxBodyBytes))
	}
	for name, v := range c.Headers {
		if err := checkHeader(name, v); err != nil {
			return yamlpos.Field("headers", fmt.Errorf("headers: %s: %w", name, err))
		}
	}
	return c.HTTPConfig.Check()
}

// reserved are the headers cowbell sets itself.
var reserved = []string{"content-type", "content-length", "host", "user-agent", "transfer-encoding"}

func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return fmt.Errorf("invalid character %q in header name", r)
		}
	}
	lower := strings.ToLower(name)
	for _, r := range reserved {
		if lower == r {
			return errors.New("header is set by cowbell")
		}
	}
	if strings.HasPrefix(lower, "x-cowbell-") {
		return errors.New("X-Cowbell-* headers are set by cowbell")
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return errors.New("header value holds a line break or NUL")
	}
	return nil
}

package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
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
	// Timeout bounds one request, whatever the dispatcher's own deadline.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultConfig holds the defaults UnmarshalYAML starts from.
var DefaultConfig = Config{Timeout: 10 * time.Second}

// UnmarshalYAML decodes and checks a webhook configuration; url_file and secret_file
// are read here, so a missing file is reported with its place in the configuration.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	u, s, err := c.resolve()
	if err != nil {
		return yamlpos.At(n, "%w", err)
	}
	if c.Timeout <= 0 {
		return yamlpos.At(n, "timeout must be positive")
	}
	c.URL, c.Secret = u, s
	return nil
}

// resolve picks the URL and the secret from their values or files and checks them
// all. Errors never quote the URL or a header value.
func (c *Config) resolve() (u, s secret.Secret, err error) {
	if u = c.URL; u.Empty() || c.URLFile != "" {
		if u, err = secret.Pick("url", c.URL, c.URLFile, true); err != nil {
			return "", "", err
		}
	}
	if err := checkURL(u.Reveal()); err != nil {
		return "", "", err
	}
	if s = c.Secret; s.Empty() || c.SecretFile != "" {
		if s, err = secret.Pick("secret", c.Secret, c.SecretFile, false); err != nil {
			return "", "", err
		}
	}
	for name, v := range c.Headers {
		if err := checkHeader(name, v); err != nil {
			return "", "", fmt.Errorf("headers: %s: %w", name, err)
		}
	}
	return u, s, nil
}

func checkURL(raw string) error {
	pu, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return errors.New("url: not a valid URL")
	}
	if pu.Scheme != "http" && pu.Scheme != "https" {
		return errors.New("url: scheme must be http or https")
	}
	if pu.Host == "" {
		return errors.New("url: no host")
	}
	return nil
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

package alertmanager

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// Config configures a Prometheus Alertmanager receiver.
//
//	type: alertmanager
//	urls: [http://am-0.monitoring:9093, http://am-1.monitoring:9093]
//	resend_interval: 1m
//	labels: {cluster: prod-eu}
type Config struct {
	// URLs are the Alertmanagers of one cluster; every alert goes to each of them.
	URLs []string `yaml:"urls"`
	// ResendInterval is how often active alerts are posted again; an alert not
	// re-sent expires after four intervals.
	ResendInterval time.Duration `yaml:"resend_interval"`
	// Timeout bounds one request to one Alertmanager.
	Timeout time.Duration `yaml:"timeout"`
	// Labels are added to every alert (cluster, region, ...).
	Labels map[string]string `yaml:"labels"`

	// Basic auth (username with password or password_file) or a bearer token
	// (bearer_token or bearer_token_file), both optional.
	Username        string        `yaml:"username"`
	Password        secret.Secret `yaml:"password"`
	PasswordFile    string        `yaml:"password_file"`
	BearerToken     secret.Secret `yaml:"bearer_token"`
	BearerTokenFile string        `yaml:"bearer_token_file"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{ResendInterval: time.Minute, Timeout: 10 * time.Second}

// labelName is what Alertmanager accepts as a label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// UnmarshalYAML sets defaults, decodes strictly and checks the keys and their
// combinations. It does no I/O: secret files are read by New.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if len(c.URLs) == 0 {
		return yamlpos.At(n, "urls: at least one Alertmanager URL is required")
	}
	urls := yamlpos.Value(n, "urls")
	for i, u := range c.URLs {
		if err := checkURL(u); err != nil {
			return yamlpos.At(yamlpos.Item(urls, i), "urls[%d]: %w", i, err)
		}
	}
	if c.ResendInterval <= 0 {
		return yamlpos.At(yamlpos.Value(n, "resend_interval"), "resend_interval must be positive")
	}
	if c.Timeout <= 0 {
		return yamlpos.At(yamlpos.Value(n, "timeout"), "timeout must be positive")
	}
	if err := checkLabels(n, c.Labels); err != nil {
		return err
	}
	return checkAuth(n, c)
}

func checkLabels(root *yaml.Node, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	n := yamlpos.Value(root, "labels")
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !labelName.MatchString(k.Value) {
			return yamlpos.At(k, "labels: %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k.Value)
		}
	}
	for k := range labels { // labels that came through an alias or a merge
		if !labelName.MatchString(k) {
			return yamlpos.At(n, "labels: %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k)
		}
	}
	return nil
}

func checkAuth(n *yaml.Node, c *Config) error {
	basic := c.Username != "" || c.Password != "" || c.PasswordFile != ""
	bearer := c.BearerToken != "" || c.BearerTokenFile != ""
	switch {
	case basic && bearer:
		return yamlpos.At(n, "basic auth (username, password) and bearer_token are exclusive")
	case c.Password != "" && c.PasswordFile != "":
		return yamlpos.At(yamlpos.Value(n, "password_file"), "only one of password and password_file may be set")
	case c.BearerToken != "" && c.BearerTokenFile != "":
		return yamlpos.At(yamlpos.Value(n, "bearer_token_file"), "only one of bearer_token and bearer_token_file may be set")
	case basic && c.Username == "":
		return yamlpos.At(n, "password needs a username")
	case basic && c.Password == "" && c.PasswordFile == "":
		return yamlpos.At(yamlpos.Value(n, "username"), "username needs a password or password_file")
	}
	return nil
}

// checkURL accepts an absolute http(s) URL without credentials (they go in
// username and password, which are kept out of logs).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("not an absolute http or https URL")
	case u.User != nil:
		return fmt.Errorf("credentials belong in username and password, not in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("a query or fragment has no place in an Alertmanager URL")
	}
	return nil
}

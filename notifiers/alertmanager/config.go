package alertmanager

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
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
	// Labels are added to every alert (cluster, region, ...).
	Labels map[string]string `yaml:"labels"`
	// GeneratorURL is each alert's generatorURL, the link Alertmanager's UI and
	// notifications offer back to the source: a dashboard, or the host's /metrics.
	// {host}, {rule} and {key} are replaced by the incident's (query-escaped). Unset:
	// the host's cowbell /metrics when metrics.listen is set, else none.
	GeneratorURL string `yaml:"generator_url"`

	// Basic auth (username with password or password_file) or a bearer token
	// (bearer_token or bearer_token_file), both optional.
	Username        string        `yaml:"username"`
	Password        secret.Secret `yaml:"password"`
	PasswordFile    string        `yaml:"password_file"`
	BearerToken     secret.Secret `yaml:"bearer_token"`
	BearerTokenFile string        `yaml:"bearer_token_file"`

	// HTTPConfig's timeout bounds one request to one Alertmanager.
	notifiers.HTTPConfig `yaml:",inline"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{ResendInterval: time.Minute, HTTPConfig: notifiers.DefaultHTTPConfig}

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
	if err := c.check(); err != nil {
		var ie *itemError
		if errors.As(err, &ie) { // a list item or a map key has its own place
			return yamlpos.At(ie.node(n), "%w", err)
		}
		return yamlpos.Place(n, err)
	}
	return nil
}

// Describe implements notifiers.Config.
func (c Config) Describe() string {
	hosts := make([]string, 0, len(c.URLs))
	for _, raw := range c.URLs {
		if u, err := url.Parse(raw); err == nil {
			hosts = append(hosts, u.Host)
		}
	}
	return "alertmanager " + strings.Join(hosts, ", ")
}

// check checks the keys and their combinations without I/O.
func (c Config) check() error {
	if len(c.URLs) == 0 {
		return errors.New("urls: at least one Alertmanager URL is required")
	}
	for i, u := range c.URLs {
		if err := checkURL(u); err != nil {
			return &itemError{key: "urls", index: i, err: fmt.Errorf("urls[%d]: %w", i, err)}
		}
	}
	if c.ResendInterval < 0 {
		return yamlpos.Field("resend_interval", errors.New("resend_interval must not be negative"))
	}
	if c.GeneratorURL != "" {
		probe := strings.NewReplacer("{host}", "h", "{rule}", "r", "{key}", "k").Replace(c.GeneratorURL)
		if err := notifiers.CheckURL(probe); err != nil {
			return yamlpos.Field("generator_url", fmt.Errorf("generator_url: %w", err))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		if !labelName.MatchString(k) {
			return &itemError{key: "labels", label: k, err: fmt.Errorf("labels: %q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k)}
		}
	}
	if err := checkAuth(c); err != nil {
		return err
	}
	return c.HTTPConfig.Check()
}

// itemError is a check's error about one item of a list or one key of a map.
type itemError struct {
	key   string
	index int    // the list item, or
	label string // the map key
	err   error
}

func (e *itemError) Error() string { return e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

// node finds the item's place in the receiver's mapping n.
func (e *itemError) node(n *yaml.Node) *yaml.Node {
	v := yamlpos.Value(n, e.key)
	if e.label == "" {
		return yamlpos.Item(v, e.index)
	}
	for i := 0; v.Kind == yaml.MappingNode && i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == e.label {
			return v.Content[i]
		}
	}
	return v // a label that came through an alias or a merge
}

func checkAuth(c Config) error {
	basic := c.Username != "" || c.Password != "" || c.PasswordFile != ""
	bearer := c.BearerToken != "" || c.BearerTokenFile != ""
	if basic && bearer {
		return errors.New("basic auth (username, password) and bearer_token are exclusive")
	}
	if err := secret.Check("password", c.Password, c.PasswordFile, false); err != nil {
		return err
	}
	if err := secret.Check("bearer_token", c.BearerToken, c.BearerTokenFile, false); err != nil {
		return err
	}
	switch {
	case basic && c.Username == "":
		return errors.New("password needs a username")
	case basic && c.Password == "" && c.PasswordFile == "":
		return yamlpos.Field("username", errors.New("username needs a password or password_file"))
	}
	return nil
}

// checkURL accepts an absolute http(s) URL without credentials (they go in
// username and password, which are kept out of logs).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || notifiers.CheckURL(raw) != nil:
		return notifiers.ErrNotHTTPURL
	case u.User != nil:
		return fmt.Errorf("credentials belong in username and password, not in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("a query or fragment has no place in an Alertmanager URL")
	}
	return nil
}

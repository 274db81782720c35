package enrich

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// Target names a kind of process the snapshot looks for, by the comm the kernel shows
// in /proc/<pid>/comm.
type Target struct {
	Name string   `yaml:"name"` // "redis", "postgres": the key in Snapshot.Running
	Comm []string `yaml:"comm"` // exact comm values: "redis-server"
}

// RedisConfig says where to read Redis INFO. Password and PasswordFile are twins: at most
// one may be set.
type RedisConfig struct {
	Addr         string        `yaml:"addr"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	Timeout      time.Duration `yaml:"timeout"` // default 2s
}

// PostgresConfig says where to read PostgreSQL settings. Exactly one of DSN and DSNFile
// is set.
type PostgresConfig struct {
	DSN     secret.Secret `yaml:"dsn"`
	DSNFile string        `yaml:"dsn_file"`
	Timeout time.Duration `yaml:"timeout"` // default 2s
}

// Config is the enricher's configuration: where the host's /proc, /sys and /etc are,
// which processes to look for and which services to ask.
type Config struct {
	Proc     string          `yaml:"proc"`      // default /proc (a sidecar: /host/proc)
	Sys      string          `yaml:"sys"`       // default /sys
	Etc      string          `yaml:"etc"`       // for machine-id, default /etc
	Targets  []Target        `yaml:"targets"`   // default redis + postgres
	Redis    *RedisConfig    `yaml:"redis"`     // INFO is read only when set
	Postgres *PostgresConfig `yaml:"postgres"`  // settings are read only when set
	CacheFor time.Duration   `yaml:"cache_for"` // default 1s
	Interval time.Duration   `yaml:"interval"`  // probe interval, default 30s
	// LeadTime is how long before Committed_AS is forecast to reach CommitLimit the
	// forecast probe fires, default 24h.
	LeadTime time.Duration `yaml:"lead_time"`
}

// defaultServiceTimeout bounds one INFO or settings query: a snapshot must not wait on a
// service that does not answer.
const defaultServiceTimeout = 2 * time.Second

// DefaultConfig is the configuration used when none is given: the live /proc and /sys,
// Redis and PostgreSQL processes, no service queries.
var DefaultConfig = Config{
	Proc: "/proc",
	Sys:  "/sys",
	Etc:  "/etc",
	Targets: []Target{
		{Name: "redis", Comm: []string{"redis-server"}},
		{Name: "postgres", Comm: []string{"postgres", "postmaster"}},
	},
	CacheFor: time.Second,
	Interval: 30 * time.Second,
	LeadTime: 24 * time.Hour,
}

// UnmarshalYAML sets defaults, decodes strictly and checks combinations; it does no I/O.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	c.Targets = slices.Clone(DefaultConfig.Targets)
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return yamlpos.At(n, "%w", err)
	}
	return nil
}

// check validates a decoded configuration and fills the services' default timeouts.
func (c *Config) check() error {
	var errs []error
	for _, d := range []struct{ name, v string }{{"proc", c.Proc}, {"sys", c.Sys}, {"etc", c.Etc}} {
		if d.v == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", d.name))
		}
	}
	if c.CacheFor < 0 {
		errs = append(errs, errors.New("cache_for: must not be negative"))
	}
	if c.Interval <= 0 {
		errs = append(errs, errors.New("interval: must be positive"))
	}
	if c.LeadTime <= 0 {
		errs = append(errs, errors.New("lead_time: must be positive"))
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("targets[%d]: name is required", i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("targets[%d]: duplicate name %q", i, t.Name))
		case len(t.Comm) == 0:
			errs = append(errs, fmt.Errorf("targets[%d]: comm is required", i))
		}
		seen[t.Name] = true
	}
	if r := c.Redis; r != nil {
		if r.Addr == "" {
			errs = append(errs, errors.New("redis: addr is required"))
		}
		if r.Password != "" && r.PasswordFile != "" {
			errs = append(errs, errors.New("redis: only one of password and password_file may be set"))
		}
		if r.Timeout < 0 {
			errs = append(errs, errors.New("redis: timeout must not be negative"))
		}
		if r.Timeout == 0 {
			r.Timeout = defaultServiceTimeout
		}
	}
	if p := c.Postgres; p != nil {
		if (p.DSN == "") == (p.DSNFile == "") {
			errs = append(errs, errors.New("postgres: exactly one of dsn and dsn_file is required"))
		}
		if p.Timeout < 0 {
			errs = append(errs, errors.New("postgres: timeout must not be negative"))
		}
		if p.Timeout == 0 {
			p.Timeout = defaultServiceTimeout
		}
	}
	return errors.Join(errs...)
}

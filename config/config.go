// Package config reads cowbell's configuration file into typed configs. Every error
// names the file, line and column, and unknown keys are errors.
package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/internal/inputfile"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Config is a whole configuration file.
type Config struct {
	// Host names this node in incidents; default the kernel's host name.
	Host string `yaml:"host"`
	// StateDir holds the store (cursors, outbox, open incidents).
	StateDir  string                     `yaml:"state_dir"`
	Rules     Rules                      `yaml:"rules"`
	Incidents Incidents                  `yaml:"incidents"`
	Snapshot  enrich.Config              `yaml:"snapshot"`
	Sources   []Source                   `yaml:"sources"`
	Notifiers []Notifier                 `yaml:"notifiers"`
	Routes    []notifiers.Route          `yaml:"routes"`
	Default   []string                   `yaml:"default_notifiers"`
	Outbox    notifiers.DispatcherConfig `yaml:"outbox"`
	Metrics   Metrics                    `yaml:"metrics"`
	Log       Log                        `yaml:"log"`
	Memory    Memory                     `yaml:"memory"`

	// File is where the configuration was read from; "" for embedded defaults.
	File string `yaml:"-"`
}

// Rules says which rules load.
type Rules struct {
	// Builtin turns the embedded pack on (default true).
	Builtin bool `yaml:"builtin"`
	// Paths are rule files and directories, loaded after the pack; a rule with a
	// built-in id replaces the built-in one.
	Paths []string `yaml:"paths"`
	// DefaultCooldown applies to log rules that set no cooldown (knowledge-base
	// entries have none): without one, a crash loop would page once a line.
	DefaultCooldown time.Duration `yaml:"default_cooldown"`
}

// Incidents says what becomes of events cowbell did not see live (the pipeline hands
// it to the Tracker as incidents.Config).
type Incidents struct {
	// MaxAge is how old a line may be when read and still page: an older hit (a
	// backlog after a restart, a first start at the beginning) is recorded and
	// counted, not paged. 0 pages whatever its age.
	MaxAge time.Duration `yaml:"max_age"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the address of /metrics and /healthz ("" = off), e.g. 127.0.0.1:9464.
	Listen string `yaml:"listen"`
}

// Memory says when cowbell gives back memory that only its start-up used
// (internal/memtrim): the heap's free pages and the pages of its program file that
// start-up touched, which stay in the page cache.
type Memory struct {
	// TrimAfter is how long after the sources have opened (at start and after each
	// reload) the trim runs: past the first probes and rescans. 0 turns it off.
	TrimAfter time.Duration `yaml:"trim_after"`
}

// Log configures cowbell's own log.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // console | json
}

// Default is the configuration before the file is applied.
var Default = Config{
	Rules:     Rules{Builtin: true, DefaultCooldown: 15 * time.Minute},
	Incidents: Incidents{MaxAge: time.Hour},
	Snapshot:  enrich.DefaultConfig,
	Outbox:    notifiers.DefaultDispatcherConfig,
	Log:       Log{Level: "info", Format: "console"},
	Memory:    Memory{TrimAfter: 15 * time.Second},
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// UnmarshalYAML decodes strictly and checks names across sources and notifiers.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = Default
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	var errs []error
	if c.Incidents.MaxAge < 0 {
		errs = append(errs, yamlpos.At(yamlpos.Value(n, "incidents"), "incidents: max_age must not be negative"))
	}
	if c.Memory.TrimAfter < 0 {
		errs = append(errs, yamlpos.At(yamlpos.Value(n, "memory"), "memory: trim_after must not be negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, yamlpos.At(yamlpos.Value(n, "log"), "log: level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		errs = append(errs, yamlpos.At(yamlpos.Value(n, "log"), "log: format %q: want console or json", c.Log.Format))
	}
	seen := map[string]bool{}
	for _, s := range c.Sources {
		if seen[s.Name] {
			errs = append(errs, yamlpos.At(s.node, "source %q: duplicate name", s.Name))
		}
		seen[s.Name] = true
	}
	names := map[string]bool{}
	for _, nt := range c.Notifiers {
		if names[nt.Name] {
			errs = append(errs, yamlpos.At(nt.node, "notifier %q: duplicate name", nt.Name))
		}
		names[nt.Name] = true
	}
	for i, r := range c.Routes {
		for _, name := range r.Notifiers {
			if !names[name] {
				errs = append(errs, yamlpos.At(yamlpos.Item(yamlpos.Value(n, "routes"), i), "routes[%d]: unknown notifier %q", i, name))
			}
		}
	}
	for _, name := range c.Default {
		if !names[name] {
			errs = append(errs, yamlpos.At(yamlpos.Value(n, "default_notifiers"), "default_notifiers: unknown notifier %q", name))
		}
	}
	return errors.Join(errs...)
}

// MaxFileBytes bounds a configuration file: a real one is a few kilobytes.
const MaxFileBytes = 4 << 20

// Load reads a configuration file, expanding ${ENV} references in values. It must be a
// regular file of at most MaxFileBytes (a FIFO or /dev/zero is refused, not read).
func Load(path string) (*Config, error) {
	data, err := inputfile.Read(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, osLookup)
}

// Parse decodes a configuration document; lookup resolves ${NAME} references.
func Parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlpos.InFile(err, file)
	}
	c := Default
	if len(root.Content) == 0 { // an empty file: all defaults
		c.File = file
		return &c, nil
	}
	if err := yamlpos.CheckAliases(&root, yamlpos.MaxExpanded); err != nil {
		return nil, yamlpos.InFile(err, file)
	}
	if err := expandEnv(&root, lookup); err != nil {
		return nil, yamlpos.InFile(err, file)
	}
	if err := root.Content[0].Decode(&c); err != nil {
		return nil, yamlpos.InFile(err, file)
	}
	c.File = file
	for i := range c.Sources {
		c.Sources[i].file = file
	}
	for i := range c.Notifiers {
		c.Notifiers[i].file = file
	}
	return &c, nil
}

package kmsg

import (
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Config is a kernel ring buffer source's configuration.
type Config struct {
	// Path is the kernel log device, /dev/kmsg by default.
	Path string `yaml:"path"`
	// StartAt is where to start without a checkpoint from this boot: "end" (records
	// logged from now on) or "beginning" (every record still in the ring buffer).
	StartAt string `yaml:"start_at"`
}

// DefaultConfig is a kmsg source's configuration before its YAML is applied.
var DefaultConfig = Config{Path: "/dev/kmsg", StartAt: "end"}

// UnmarshalYAML decodes and checks a kmsg source configuration; it does no I/O.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if !filepath.IsAbs(c.Path) {
		return yamlpos.At(yamlpos.Value(n, "path"), "path: %q is not an absolute path", c.Path)
	}
	if _, err := sources.ParseStartAt(c.StartAt); err != nil {
		return yamlpos.At(yamlpos.Value(n, "start_at"), "start_at: %w", err)
	}
	return nil
}

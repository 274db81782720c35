package kmsg

import (
	"fmt"
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
		return yamlpos.At(valueNode(n, "path"), "path: %q is not an absolute path", c.Path)
	}
	if _, err := parseStartAt(c.StartAt); err != nil {
		return yamlpos.At(valueNode(n, "start_at"), "start_at: %w", err)
	}
	return nil
}

func parseStartAt(s string) (sources.StartAt, error) {
	switch s {
	case "end":
		return sources.StartAtEnd, nil
	case "beginning":
		return sources.StartAtBeginning, nil
	}
	return 0, fmt.Errorf("%q is not end or beginning", s)
}

// valueNode returns the value of key in mapping n, or n itself when it is missing.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

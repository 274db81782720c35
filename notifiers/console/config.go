package console

import (
	"cmp"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// Config is the console receiver's configuration.
type Config struct {
	// Output is "stdout" (the default) or "stderr".
	Output string `yaml:"output"`
	// Color marks severities and sections with ANSI colours (for a terminal).
	Color bool `yaml:"color"`
	// JSON prints each incident as one line of cowbell.incident/v1 JSON instead of text.
	JSON bool `yaml:"json"`
}

// DefaultConfig is the console receiver that `cowbell run` uses without a configuration.
var DefaultConfig = Config{Output: "stdout"}

// UnmarshalYAML decodes and checks a console configuration.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	return yamlpos.Place(n, c.check())
}

func (c Config) check() error {
	if c.Output != "" && c.Output != "stdout" && c.Output != "stderr" {
		return yamlpos.Field("output", fmt.Errorf("output %q: want stdout or stderr", c.Output))
	}
	return nil
}

// Describe implements notifiers.Config.
func (c Config) Describe() string {
	d := "console on " + cmp.Or(c.Output, "stdout")
	if c.JSON {
		d += ", JSON lines"
	}
	return d
}

// Writer returns the stream Output names.
func (c Config) Writer() io.Writer {
	if c.Output == "stderr" {
		return os.Stderr
	}
	return os.Stdout
}

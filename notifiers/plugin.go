package notifiers

import (
	"io"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/plugin"
)

// Config is a receiver's decoded configuration.
type Config interface {
	// Describe says in one line where the receiver delivers, without a secret: for
	// `cowbell run`'s banner and `cowbell check`.
	Describe() string
}

// Deps are what a receiver may use besides its configuration. Every receiver's New
// takes them, so a new receiver is one row in the configuration's table.
type Deps struct {
	Name string      // the configured name
	Log  *zap.Logger // named for the receiver
	// KV is the receiver's durable map in the state store (Slack's thread ids); nil
	// where there is no store (`cowbell notify test`): a receiver then keeps it in
	// memory.
	KV KV
	// Stdout and Stderr are the console's streams.
	Stdout, Stderr io.Writer
	// MetricsURL is this cowbell's /metrics as other hosts reach it, with {host} for
	// the incident's host ("http://{host}:9464/metrics"); "" when metrics are off.
	// Alertmanager alerts link to it (generatorURL) unless configured otherwise.
	MetricsURL string
}

// Plugin is one receiver type: its name in the configuration, how its settings decode
// and check themselves, and how it is built.
type Plugin = plugin.Plugin[Config, Deps, Notifier]

// Plug makes the Plugin of a receiver package from its Config type (which decodes and
// checks itself in UnmarshalYAML) and its New.
func Plug[C Config, PC interface {
	*C
	yaml.Unmarshaler
}, N Notifier](typ string, newFn func(C, Deps) (N, error)) Plugin {
	return plugin.Plug[Config, Deps, Notifier, C, PC](typ, newFn)
}

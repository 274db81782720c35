package sources

import (
	"io"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/plugin"
)

// Config is a source's decoded configuration.
type Config interface {
	// Describe says in one line what the source reads: for `cowbell run`'s banner and
	// `cowbell check`.
	Describe() string
}

// Deps are what a source may use besides its configuration. Every source's New takes
// them, so a new source is one row in the configuration's table.
type Deps struct {
	Name        string      // the configured name: Line.Source, metric labels
	Checkpoints Checkpoints // where Run resumes from
	Metrics     *Metrics    // nil: kept but not exported
	Log         *zap.Logger // named for the source
	Stdin       io.Reader   // the stdin source's input; nil: the process's
	// Opened, when not nil, is called by each run once it has opened what it reads
	// (its files found and positioned, its journal open): until every source has, or
	// has failed, the service is not ready.
	Opened func()
	// Trouble, when not nil, is called with a few words on what a source finds but
	// cannot read ("2 files unreadable"), and with "" once it reads all it finds. It
	// does not make the source failing: the rest is read.
	Trouble func(note string)
}

// Plugin is one source type: its name in the configuration, how its settings decode
// and check themselves, and how it is built.
type Plugin = plugin.Plugin[Config, Deps, Source]

// Plug makes the Plugin of a source package from its Config type (which decodes and
// checks itself in UnmarshalYAML) and its New.
func Plug[C Config, PC interface {
	*C
	yaml.Unmarshaler
}, S Source](typ string, newFn func(C, Deps) (S, error)) Plugin {
	return plugin.Plug[Config, Deps, Source, C, PC](typ, newFn)
}

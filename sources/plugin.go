package sources

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
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
type Plugin struct {
	Type   string
	Decode func(n *yaml.Node) (Config, error)
	New    func(c Config, d Deps) (Source, error)
}

// Plug makes the Plugin of a source package from its Config type (which decodes and
// checks itself in UnmarshalYAML) and its New.
func Plug[C Config, PC interface {
	*C
	yaml.Unmarshaler
}, S Source](typ string, newFn func(C, Deps) (S, error)) Plugin {
	return Plugin{
		Type: typ,
		Decode: func(n *yaml.Node) (Config, error) {
			var c C
			if err := PC(&c).UnmarshalYAML(n); err != nil {
				return nil, err
			}
			return c, nil
		},
		New: func(c Config, d Deps) (Source, error) {
			cc, ok := c.(C)
			if !ok {
				return nil, fmt.Errorf("%s: a %T is not its configuration", typ, c)
			}
			s, err := newFn(cc, d)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}

package config

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/alertmanager"
	"github.com/cowbell-sidecar/cowbell/notifiers/console"
	"github.com/cowbell-sidecar/cowbell/notifiers/pagerduty"
	"github.com/cowbell-sidecar/cowbell/notifiers/slack"
	"github.com/cowbell-sidecar/cowbell/notifiers/webhook"
	"github.com/cowbell-sidecar/cowbell/notifiers/zenduty"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/journald"
	"github.com/cowbell-sidecar/cowbell/sources/kmsg"
)

// The plug-in tables: every source and receiver type a configuration may name, how
// its settings decode and how it is built. Adding one is a row here (see
// docs/plugins.md); nothing else switches on a type name.
var (
	sourceTypes = []sources.Plugin{
		sources.Plug("file", file.New),
		sources.Plug("journald", journald.New),
		sources.Plug("kmsg", kmsg.New),
		sources.Plug("stdin", sources.NewStdin),
	}
	notifierTypes = []notifiers.Plugin{
		notifiers.Plug("console", console.New),
		notifiers.Plug("webhook", webhook.New),
		notifiers.Plug("slack", slack.New),
		notifiers.Plug("zenduty", zenduty.New),
		notifiers.Plug("pagerduty", pagerduty.New),
		notifiers.Plug("alertmanager", alertmanager.New),
	}
)

// SourceTypes and NotifierTypes list the type names a configuration may use.
func SourceTypes() []string {
	var out []string
	for _, p := range sourceTypes {
		out = append(out, p.Type)
	}
	return out
}

// NotifierTypes lists the receiver type names a configuration may use.
func NotifierTypes() []string {
	var out []string
	for _, p := range notifierTypes {
		out = append(out, p.Type)
	}
	return out
}

// Source is one configured source: a name, a type, and that type's settings written
// beside them:
//
//   - name: redis
//     type: file
//     paths: [/var/log/redis/*.log]
type Source struct {
	Name   string
	Type   string
	Config sources.Config // the type's own: file.Config, journald.Config, ...

	node *yaml.Node
	file string // the configuration file it was read from
}

// Notifier is one configured receiver, written like a Source:
//
//   - name: oncall
//     type: slack
//     webhook_url_file: /run/secrets/slack
type Notifier struct {
	Name   string
	Type   string
	Config notifiers.Config // the type's own: slack.Config, webhook.Config, ...

	node *yaml.Node
	file string
}

// UnmarshalYAML reads name and type, then decodes the other keys strictly into the
// type's own config, so a misspelt key is reported at its place.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	rest, err := splitNamed(n, &s.Name, &s.Type, "source")
	if err != nil {
		return err
	}
	s.node = n
	i := slices.IndexFunc(sourceTypes, func(p sources.Plugin) bool { return p.Type == s.Type })
	if i < 0 {
		return yamlpos.At(yamlpos.Value(n, "type"), "source %q: unknown type %q (want one of %v)", s.Name, s.Type, SourceTypes())
	}
	s.Config, err = sourceTypes[i].Decode(rest)
	return yamlpos.Within(err, "source %q", s.Name)
}

// UnmarshalYAML reads name and type, then decodes the rest into the receiver's config.
func (c *Notifier) UnmarshalYAML(n *yaml.Node) error {
	rest, err := splitNamed(n, &c.Name, &c.Type, "notifier")
	if err != nil {
		return err
	}
	c.node = n
	i := slices.IndexFunc(notifierTypes, func(p notifiers.Plugin) bool { return p.Type == c.Type })
	if i < 0 {
		return yamlpos.At(yamlpos.Value(n, "type"), "notifier %q: unknown type %q (want one of %v)", c.Name, c.Type, NotifierTypes())
	}
	c.Config, err = notifierTypes[i].Decode(rest)
	return yamlpos.Within(err, "notifier %q", c.Name)
}

// New builds the source. d.Name is set from the configuration.
func (s Source) New(d sources.Deps) (sources.Source, error) {
	i := slices.IndexFunc(sourceTypes, func(p sources.Plugin) bool { return p.Type == s.Type })
	if i < 0 {
		return nil, fmt.Errorf("source %q: unknown type %q", s.Name, s.Type)
	}
	d.Name = s.Name
	src, err := sourceTypes[i].New(s.Config, d)
	if err != nil {
		return nil, s.at(fmt.Errorf("source %q: %w", s.Name, err))
	}
	return src, nil
}

// New builds the receiver. d.Name is set from the configuration.
func (c Notifier) New(d notifiers.Deps) (notifiers.Notifier, error) {
	i := slices.IndexFunc(notifierTypes, func(p notifiers.Plugin) bool { return p.Type == c.Type })
	if i < 0 {
		return nil, fmt.Errorf("notifier %q: unknown type %q", c.Name, c.Type)
	}
	d.Name = c.Name
	n, err := notifierTypes[i].New(c.Config, d)
	if err != nil {
		return nil, c.at(fmt.Errorf("notifier %q: %w", c.Name, err))
	}
	return n, nil
}

// Describe says in one line what the source reads.
func (s Source) Describe() string {
	if s.Config == nil {
		return s.Type
	}
	return s.Config.Describe()
}

// Describe says in one line where the receiver delivers, without a secret.
func (c Notifier) Describe() string {
	if c.Config == nil {
		return c.Type
	}
	return c.Config.Describe()
}

// at gives a build error the place of the source in the configuration file, when it
// was read from one.
func (s Source) at(err error) error { return at(s.file, s.node, err) }

func (c Notifier) at(err error) error { return at(c.file, c.node, err) }

func at(file string, n *yaml.Node, err error) error {
	if n == nil {
		return err
	}
	return yamlpos.InFile(yamlpos.At(n, "%w", err), file)
}

// splitNamed takes name and type out of a mapping and returns a mapping of the rest.
func splitNamed(n *yaml.Node, name, typ *string, what string) (*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, yamlpos.At(n, "%s: want a mapping with name and type", what)
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			if err := v.Decode(name); err != nil {
				return nil, yamlpos.At(v, "%s: name: %w", what, err)
			}
		case "type":
			if err := v.Decode(typ); err != nil {
				return nil, yamlpos.At(v, "%s: type: %w", what, err)
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	if *name == "" {
		return nil, yamlpos.At(n, "%s: name is required", what)
	}
	if !nameRE.MatchString(*name) {
		return nil, yamlpos.At(yamlpos.Value(n, "name"), "%s %q: name may hold letters, digits, '.', '_' and '-'", what, *name)
	}
	if *typ == "" {
		return nil, yamlpos.At(n, "%s %q: type is required", what, *name)
	}
	return rest, nil
}

package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers/alertmanager"
	"github.com/cowbell-sidecar/cowbell/notifiers/console"
	"github.com/cowbell-sidecar/cowbell/notifiers/pagerduty"
	"github.com/cowbell-sidecar/cowbell/notifiers/slack"
	"github.com/cowbell-sidecar/cowbell/notifiers/webhook"
	"github.com/cowbell-sidecar/cowbell/notifiers/zenduty"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/journald"
	"github.com/cowbell-sidecar/cowbell/sources/kmsg"
)

// Source is one configured source: a name, a type, and that type's settings written
// beside them:
//
//   - name: redis
//     type: file
//     paths: [/var/log/redis/*.log]
type Source struct {
	Name     string
	Type     string // file | journald | kmsg | stdin
	File     file.Config
	Journald journald.Config
	Kmsg     kmsg.Config

	node *yaml.Node
}

// Notifier is one configured receiver, written like a Source:
//
//   - name: oncall
//     type: slack
//     webhook_url_file: /run/secrets/slack
type Notifier struct {
	Name         string
	Type         string // console | webhook | slack | zenduty | pagerduty | alertmanager
	Console      console.Config
	Webhook      webhook.Config
	Slack        slack.Config
	Zenduty      zenduty.Config
	PagerDuty    pagerduty.Config
	Alertmanager alertmanager.Config

	node *yaml.Node
}

// SourceTypes and NotifierTypes are the plug-ins a config may name.
var (
	SourceTypes   = []string{"file", "journald", "kmsg", "stdin"}
	NotifierTypes = []string{"console", "webhook", "slack", "zenduty", "pagerduty", "alertmanager"}
)

// UnmarshalYAML reads name and type, then decodes the other keys strictly into the
// type's own config, so a misspelt key is reported at its place.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	rest, err := splitNamed(n, &s.Name, &s.Type, "source")
	if err != nil {
		return err
	}
	s.node = n
	var derr error
	switch s.Type {
	case "file":
		derr = rest.Decode(&s.File)
	case "journald":
		derr = rest.Decode(&s.Journald)
	case "kmsg":
		derr = rest.Decode(&s.Kmsg)
	case "stdin":
		if len(rest.Content) > 0 {
			derr = yamlpos.At(rest.Content[0], "unknown field %q", rest.Content[0].Value)
		}
	default:
		return yamlpos.At(yamlpos.Value(n, "type"), "source %q: unknown type %q (want one of %v)", s.Name, s.Type, SourceTypes)
	}
	return yamlpos.Within(derr, "source %q", s.Name)
}

// UnmarshalYAML reads name and type, then decodes the rest into the receiver's config.
func (c *Notifier) UnmarshalYAML(n *yaml.Node) error {
	rest, err := splitNamed(n, &c.Name, &c.Type, "notifier")
	if err != nil {
		return err
	}
	c.node = n
	var derr error
	switch c.Type {
	case "console":
		derr = rest.Decode(&c.Console)
	case "webhook":
		derr = rest.Decode(&c.Webhook)
	case "slack":
		derr = rest.Decode(&c.Slack)
	case "zenduty":
		derr = rest.Decode(&c.Zenduty)
	case "pagerduty":
		derr = rest.Decode(&c.PagerDuty)
	case "alertmanager":
		derr = rest.Decode(&c.Alertmanager)
	default:
		return yamlpos.At(yamlpos.Value(n, "type"), "notifier %q: unknown type %q (want one of %v)", c.Name, c.Type, NotifierTypes)
	}
	return yamlpos.Within(derr, "notifier %q", c.Name)
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

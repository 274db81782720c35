package notifiers

import (
	"path"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Route sends the incidents it matches to its notifiers. Every condition that is set
// must hold; within one condition, one listed value suffices:
//
//   - Severity: the rule's severity is one of these.
//   - Rules: the rule id matches one of these path.Match globs ("redis/*").
//   - Tags: the rule carries one of these tags.
//   - Labels: every listed label is present and matches its glob.
//
// A route with no condition matches every incident.
type Route struct {
	Severity  []string          `yaml:"severity"`
	Rules     []string          `yaml:"rules"`
	Tags      []string          `yaml:"tags"`
	Labels    map[string]string `yaml:"labels"`
	Notifiers []string          `yaml:"notifiers"`
	// Continue goes on to the next routes after this one matched.
	Continue bool `yaml:"continue"`
}

// UnmarshalYAML decodes a route and checks its severities, globs and notifiers. That
// the notifiers exist is checked by the configuration, which knows them.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	type plain Route
	*r = Route{}
	if err := yamlpos.DecodeStrict(n, (*plain)(r)); err != nil {
		return err
	}
	for _, s := range r.Severity {
		switch rules.Severity(s) {
		case rules.SeverityInfo, rules.SeverityWarning, rules.SeverityCritical:
		default:
			return yamlpos.At(n, "severity %q: want info, warning or critical", s)
		}
	}
	for _, g := range r.Rules {
		if _, err := path.Match(g, ""); err != nil {
			return yamlpos.At(n, "rules: %q: %w", g, err)
		}
	}
	for k, g := range r.Labels {
		if _, err := path.Match(g, ""); err != nil {
			return yamlpos.At(n, "labels: %s: %q: %w", k, g, err)
		}
	}
	if len(r.Notifiers) == 0 {
		return yamlpos.At(n, "a route needs at least one notifier")
	}
	return nil
}

// matches reports whether the route takes inc.
func (r *Route) matches(inc *incidents.Incident) bool {
	if len(r.Severity) > 0 && !slices.Contains(r.Severity, inc.Rule.Severity) {
		return false
	}
	if len(r.Rules) > 0 && !slices.ContainsFunc(r.Rules, func(g string) bool {
		ok, _ := path.Match(g, inc.Rule.ID)
		return ok
	}) {
		return false
	}
	if len(r.Tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool {
		return slices.Contains(inc.Rule.Tags, t)
	}) {
		return false
	}
	for k, g := range r.Labels {
		v, ok := inc.Labels[k]
		if !ok {
			return false
		}
		if m, _ := path.Match(g, v); !m {
			return false
		}
	}
	return true
}

// Router picks the notifiers of an incident.
type Router struct {
	routes   []Route
	defaults []string
}

// NewRouter makes a Router. Routes are tried in order; the first that matches decides
// unless it says Continue. An incident no route matched goes to defaults: the
// configuration passes every notifier's name when it names no default.
func NewRouter(routes []Route, defaults []string) *Router {
	return &Router{routes: slices.Clone(routes), defaults: slices.Clone(defaults)}
}

// Route returns the names of the notifiers inc goes to, deduplicated, in the order
// the routes name them.
func (r *Router) Route(inc *incidents.Incident) []string {
	var out []string
	matched := false
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.matches(inc) {
			continue
		}
		matched = true
		out = appendNew(out, rt.Notifiers)
		if !rt.Continue {
			break
		}
	}
	if !matched {
		out = appendNew(out, r.defaults)
	}
	return out
}

func appendNew(out, names []string) []string {
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

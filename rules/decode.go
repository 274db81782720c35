package rules

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// idRE is the shape of a rule id: domain/slug.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$`)

// Default keys: one incident per rule and host for log rules; per node for probes,
// whose facts are host-wide however many sidecars watch the node.
const (
	defaultKey      = "{{.Rule}}@{{.Host}}"
	defaultProbeKey = "{{.Rule}}@{{.Node}}"
)

// DefaultProbeInterval is how often a probe is evaluated when its rule does not say.
const DefaultProbeInterval = 30 * time.Second

// UnmarshalYAML decodes a rule strictly: unknown keys are errors, ids and titles are
// required, exactly one of match and probe is given, and defaults are filled in. Every
// error names the rule (when it has an id) and the field, at the field's position.
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if id := peekID(n); id != "" {
		return yamlpos.Within(r.decode(n), "rule %q", id)
	}
	return yamlpos.Within(r.decode(n), "rule")
}

func (r *Rule) decode(n *yaml.Node) error {
	*r = Rule{Severity: SeverityWarning, Line: n.Line, Column: n.Column}
	var follow, resolve []patternSrc
	seen, err := decodeFields(n, map[string]any{
		"id": &r.ID, "title": &r.Title, "severity": &r.Severity, "tags": &r.Tags,
		"sources": &r.Sources, "labels": &r.Labels,
		"match": &r.Match, "follow": &follow, "resolve": &resolve,
		"resolve_after": &r.ResolveAfter, "resolve_when": &r.ResolveWhen, "threshold": &r.Threshold,
		"cooldown": &r.Cooldown, "group_within": &r.GroupWithin, "key": &r.Key,
		"probe": &r.Probe, "root_cause": &r.RootCause, "cause": &r.Cause, "advice": &r.Advice,
		"dead_ends": &r.DeadEnds, "docs": &r.Docs, "versions": &r.Versions,
		"examples": &r.Examples,
	})
	if err != nil {
		return err
	}
	if err := r.check(n, seen); err != nil {
		return err
	}
	fold := r.Match != nil && r.Match.IgnoreCase
	if r.Follow, err = compileList(follow, fold, "follow"); err != nil {
		return err
	}
	if r.Resolve, err = compileList(resolve, fold, "resolve"); err != nil {
		return err
	}
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if r.Key == nil {
		keys, err := defaultKeys()
		if err != nil {
			return yamlpos.At(n, "key: %w", err)
		}
		r.Key = keys[0]
		if r.IsProbe() {
			r.Key = keys[1]
		}
	}
	return nil
}

// defaultKeys are the default key templates, log rule's then probe's, compiled once:
// a template is read-only once parsed, so the rules without a key share them, and a
// thousand rules do not parse the same template a thousand times (a quarter of
// loading them).
var defaultKeys = sync.OnceValues(func() ([2]*KeyTemplate, error) {
	var keys [2]*KeyTemplate
	for i, src := range [2]string{defaultKey, defaultProbeKey} {
		k, err := compileKey(src)
		if err != nil {
			return keys, err
		}
		keys[i] = k
	}
	return keys, nil
})

// check tests the rule's required fields and their combinations.
func (r *Rule) check(n *yaml.Node, seen map[string]*yaml.Node) error {
	switch {
	case r.ID == "":
		return yamlpos.At(n, "id is required")
	case !idRE.MatchString(r.ID):
		return yamlpos.At(seen["id"], "id: %q is not domain/slug (lower case letters, digits, '_', '.', '-')", r.ID)
	case r.Title == "":
		return yamlpos.At(n, "title is required")
	case r.Match != nil && r.Probe != nil:
		return yamlpos.At(seen["probe"], "probe: a rule has either match or probe, not both")
	case r.Match == nil && r.Probe == nil:
		return yamlpos.At(n, "one of match and probe is required")
	}
	for _, k := range []string{"follow", "resolve", "resolve_when"} {
		if v := seen[k]; v != nil && r.Match == nil && !isNull(v) {
			return yamlpos.At(v, "%s: needs match (a probe resolves when its condition clears)", k)
		}
	}
	for i, g := range r.Sources {
		if _, err := path.Match(g, ""); err != nil {
			return yamlpos.At(seen["sources"], "sources[%d]: %q: %w", i, g, err)
		}
	}
	for k, g := range r.Labels {
		if _, err := path.Match(g, ""); err != nil {
			return yamlpos.At(seen["labels"], "labels: %s: %q: %w", k, g, err)
		}
	}
	return nil
}

// UnmarshalYAML decodes a match: one pattern string, a list of patterns (any of them),
// or a mapping of any, all, unless and ignore_case. Patterns compile here, folding case
// when ignore_case is set.
func (m *Match) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	*m = Match{}
	var anyOf, allOf, unless []patternSrc
	switch n.Kind {
	case yaml.ScalarNode:
		var p patternSrc
		if err := p.UnmarshalYAML(n); err != nil {
			return err
		}
		anyOf = []patternSrc{p}
	case yaml.SequenceNode:
		if err := decodeValue(n, &anyOf, "any"); err != nil {
			return err
		}
		if len(anyOf) == 0 {
			return yamlpos.At(n, "no patterns")
		}
	case yaml.MappingNode:
		_, err := decodeFields(n, map[string]any{
			"any": &anyOf, "all": &allOf, "unless": &unless, "ignore_case": &m.IgnoreCase,
		})
		if err != nil {
			return err
		}
		if len(anyOf) == 0 && len(allOf) == 0 {
			return yamlpos.At(n, "one of any and all is required")
		}
	default:
		return yamlpos.At(n, "expected a pattern, a list of patterns or a mapping, got %s", kindName(n))
	}
	var err error
	if m.Any, err = compileList(anyOf, m.IgnoreCase, "any"); err != nil {
		return err
	}
	if m.All, err = compileList(allOf, m.IgnoreCase, "all"); err != nil {
		return err
	}
	m.Unless, err = compileList(unless, m.IgnoreCase, "unless")
	return err
}

// UnmarshalYAML compiles one pattern as written (case folding is the rule's business:
// see Match).
func (p *Pattern) UnmarshalYAML(n *yaml.Node) error {
	var src patternSrc
	if err := src.UnmarshalYAML(deref(n)); err != nil {
		return err
	}
	c, err := src.compile(false)
	if err != nil {
		return err
	}
	*p = c
	return nil
}

// patternSrc is a pattern as written, kept until the rule says whether to fold case.
type patternSrc struct {
	text         string
	line, column int
}

func (p *patternSrc) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return yamlpos.At(n, "expected a pattern string, got %s", kindName(n))
	}
	if n.Value == "" {
		return yamlpos.At(n, "empty pattern (it would match every line)")
	}
	*p = patternSrc{text: n.Value, line: n.Line, column: n.Column}
	return nil
}

// compile compiles the pattern once, at load. The error is reported for the pattern
// as written, without the case-folding flag.
func (p patternSrc) compile(fold bool) (Pattern, error) {
	re, err := regexp.Compile(p.text)
	if err == nil && fold {
		re, err = regexp.Compile("(?i)" + p.text)
	}
	if err != nil {
		return Pattern{}, &yamlpos.Error{Line: p.line, Column: p.column, Err: err}
	}
	return Pattern{Regexp: re, Line: p.line, Column: p.column}, nil
}

func compileList(srcs []patternSrc, fold bool, name string) ([]Pattern, error) {
	if len(srcs) == 0 {
		return nil, nil
	}
	out := make([]Pattern, len(srcs))
	for i, s := range srcs {
		p, err := s.compile(fold)
		if err != nil {
			return nil, yamlpos.Within(err, "%s[%d]", name, i)
		}
		out[i] = p
	}
	return out, nil
}

// UnmarshalYAML decodes a threshold; count must be at least 1 and within positive.
func (t *Threshold) UnmarshalYAML(n *yaml.Node) error {
	*t = Threshold{}
	seen, err := decodeFields(n, map[string]any{"count": &t.Count, "within": &t.Within})
	if err != nil {
		return err
	}
	if t.Count < 1 {
		return yamlpos.At(orNode(seen["count"], n), "count must be at least 1")
	}
	if t.Within <= 0 {
		return yamlpos.At(orNode(seen["within"], n), "within must be a positive duration")
	}
	return nil
}

// UnmarshalYAML decodes a probe; condition is required, interval defaults to
// DefaultProbeInterval.
func (p *Probe) UnmarshalYAML(n *yaml.Node) error {
	*p = Probe{Interval: Duration(DefaultProbeInterval)}
	seen, err := decodeFields(n, map[string]any{"condition": &p.Condition, "interval": &p.Interval})
	if err != nil {
		return err
	}
	if p.Condition.Program == nil {
		return yamlpos.At(n, "condition is required")
	}
	if p.Interval <= 0 {
		return yamlpos.At(orNode(seen["interval"], n), "interval must be a positive duration")
	}
	return nil
}

// UnmarshalYAML decodes one piece of advice; text is required, success_rate is a
// ratio in [0, 1].
func (a *Advice) UnmarshalYAML(n *yaml.Node) error {
	*a = Advice{}
	seen, err := decodeFields(n, map[string]any{"text": &a.Text, "when": &a.When, "success_rate": &a.SuccessRate, "docs": &a.Docs})
	if err != nil {
		return err
	}
	if a.Text.Template == nil {
		return yamlpos.At(n, "text is required")
	}
	return checkRate(a.SuccessRate, seen["success_rate"], "success_rate")
}

// UnmarshalYAML decodes a dead end; it needs an action or a why, and fail_rate is a
// ratio in [0, 1].
func (d *DeadEnd) UnmarshalYAML(n *yaml.Node) error {
	*d = DeadEnd{}
	seen, err := decodeFields(n, map[string]any{"action": &d.Action, "why": &d.Why, "fail_rate": &d.FailRate})
	if err != nil {
		return err
	}
	if d.Action == "" && d.Why == "" {
		return yamlpos.At(n, "one of action and why is required")
	}
	return checkRate(d.FailRate, seen["fail_rate"], "fail_rate")
}

// UnmarshalYAML decodes a rule's examples strictly.
func (e *Examples) UnmarshalYAML(n *yaml.Node) error {
	*e = Examples{}
	_, err := decodeFields(n, map[string]any{"match": &e.Match, "no_match": &e.NoMatch})
	return err
}

func checkRate(v float64, n *yaml.Node, name string) error {
	if v < 0 || v > 1 {
		return yamlpos.At(n, "%s: %v is not a ratio between 0 and 1", name, v)
	}
	return nil
}

// decodeFields decodes the mapping n key by key into fields (key → pointer), rejecting
// unknown and repeated keys. An error names its key ("count: ..."), and an error in a
// list names the item ("advice[2]: ..."). It returns the value node of each key seen,
// for checks that point at a field.
func decodeFields(n *yaml.Node, fields map[string]any) (map[string]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, yamlpos.At(n, "expected a mapping, got %s", kindName(n))
	}
	// Every field's error is reported, not only the first: a rule with three wrong
	// keys says so at once.
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ptr, ok := fields[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			errs = append(errs, yamlpos.At(k, "unknown field %q", k.Value))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			errs = append(errs, yamlpos.At(k, "field %q repeated (first at line %d)", k.Value, prev.Line))
			continue
		}
		seen[k.Value] = v
		if err := decodeValue(v, ptr, k.Value); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return seen, nil
}

// decodeValue decodes v into ptr with yamlpos.DecodeStrict; a list is decoded item by
// item so that an error names its index. Null items are errors: they would decode to
// a silent zero value.
func decodeValue(v *yaml.Node, ptr any, name string) error {
	v = deref(v)
	rv := reflect.ValueOf(ptr).Elem()
	if rv.Kind() != reflect.Slice || v.Kind != yaml.SequenceNode {
		return yamlpos.Within(yamlpos.DecodeStrict(v, ptr), "%s", name)
	}
	s := reflect.MakeSlice(rv.Type(), len(v.Content), len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		err := yamlpos.At(item, "empty item")
		if !isNull(item) {
			err = yamlpos.DecodeStrict(item, s.Index(i).Addr().Interface())
		}
		if err != nil {
			return yamlpos.Within(err, "%s[%d]", name, i)
		}
	}
	rv.Set(s)
	return nil
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// peekID returns the id a rule mapping declares, for naming it in errors.
func peekID(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], deref(n.Content[i+1]); k.Value == "id" && v.Kind == yaml.ScalarNode {
			return v.Value
		}
	}
	return ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

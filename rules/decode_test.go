package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// ruleYAML is a valid rule's head; tests append fields to it.
const ruleYAML = "id: t/x\ntitle: T\n"

func parseOne(t *testing.T, data string) *Rule {
	t.Helper()
	rs, err := Parse("t.yaml", []byte(data))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	return rs[0]
}

func TestDecodeFields(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, r *Rule)
	}{
		{"defaults", ruleYAML + "match: x\n", func(t *testing.T, r *Rule) {
			require.Equal(t, SeverityWarning, r.Severity)
			require.Equal(t, defaultKey, r.Key.Source)
			require.Nil(t, r.Threshold)
			require.Zero(t, r.Cooldown)
			require.False(t, r.Match.IgnoreCase)
			require.False(t, r.Match.Any[0].Regexp.MatchString("X"))
		}},
		{"null severity is the default", ruleYAML + "severity: ~\nmatch: x\n", func(t *testing.T, r *Rule) {
			require.Equal(t, SeverityWarning, r.Severity)
		}},
		{"severity info", ruleYAML + "severity: info\nmatch: x\n", func(t *testing.T, r *Rule) {
			require.Equal(t, SeverityInfo, r.Severity)
		}},
		{"match list is any", ruleYAML + "match: [a, b]\n", func(t *testing.T, r *Rule) {
			require.Len(t, r.Match.Any, 2)
			require.Equal(t, 3, r.Match.Any[1].Line)
			require.Equal(t, 12, r.Match.Any[1].Column)
		}},
		{"match all and unless", ruleYAML + "match:\n  all: [a, b]\n  unless: [c]\n", func(t *testing.T, r *Rule) {
			require.Empty(t, r.Match.Any)
			require.Len(t, r.Match.All, 2)
			require.Len(t, r.Match.Unless, 1)
		}},
		{"ignore case applies to follow and resolve", ruleYAML + "match: {any: [abc], ignore_case: true}\nfollow: [def]\nresolve: [ghi]\n", func(t *testing.T, r *Rule) {
			for _, p := range r.Patterns() {
				require.True(t, p.Regexp.MatchString(strings.ToUpper(p.Regexp.String()[4:])), p.Regexp.String())
			}
		}},
		{"resolve_when and cause", ruleYAML + "match: x\nresolve_when: 'vm.overcommit_memory == 1'\ncause: 'killed: {{.Captures.pid}}'\n", func(t *testing.T, r *Rule) {
			require.Equal(t, "vm.overcommit_memory == 1", r.ResolveWhen.Source)
			require.Equal(t, 4, r.ResolveWhen.Line)
			out, err := r.Cause.Execute(facts.Env{Captures: map[string]string{"pid": "42"}})
			require.NoError(t, err)
			require.Equal(t, "killed: 42", out)
		}},
		{"probe defaults", ruleYAML + "probe: {condition: 'commit.mode == 2'}\n", func(t *testing.T, r *Rule) {
			require.Equal(t, Duration(DefaultProbeInterval), r.Probe.Interval)
			require.Equal(t, "commit.mode == 2", r.Probe.Condition.Source)
			require.Equal(t, 3, r.Probe.Condition.Line)
			require.Equal(t, 20, r.Probe.Condition.Column)
			require.Equal(t, defaultProbeKey, r.Key.Source)
		}},
		{"durations", ruleYAML + "match: x\ncooldown: 90s\ngroup_within: 2h\nresolve_after: 0s\n", func(t *testing.T, r *Rule) {
			require.Equal(t, Duration(90*time.Second), r.Cooldown)
			require.Equal(t, Duration(2*time.Hour), r.GroupWithin)
			require.Zero(t, r.ResolveAfter)
		}},
		{"alias inside a rule", ruleYAML + "tags: &t [a, b]\nmatch: x\nversions: *t\n", func(t *testing.T, r *Rule) {
			require.Equal(t, []string{"a", "b"}, r.Versions)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, parseOne(t, tt.yaml))
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int
		col  int // 0: not checked
		want string
	}{
		{"bad yaml", ruleYAML + "match: x\n  bad: indent\n", 4, 0, "mapping values are not allowed in this context"},
		{"unclosed list", ruleYAML + "match: [x\n", 3, 0, "did not find expected ',' or ']'"},
		{"list in mapping", ruleYAML + "match: x\n- y\n", 4, 0, "did not find expected key"},
		{"tab indent", ruleYAML + "match:\n\t- x\n", 4, 0, "found character that cannot start any token"},
		{"not a rule", "just text\n", 1, 1, `expected a rule, a list of rules or a mapping with rules, got "just text"`},
		{"unknown top-level field", ruleYAML + "match: x\nseverty: info\n", 4, 1, `rule "t/x": unknown field "severty"`},
		{"repeated field", ruleYAML + "match: x\ntitle: again\n", 4, 1, `field "title" repeated (first at line 2)`},
		{"unknown field in rules file", "rule:\n  - " + rule("a/b"), 1, 1, `rule: unknown field "rule"`},
		{"unknown field beside rules", "rules: []\nversion: 2\n", 2, 1, `unknown field "version"`},
		{"rules not a list", "rules: {id: a/b}\n", 1, 8, "rules: expected a list of rules, got a mapping"},
		{"unknown match field", ruleYAML + "match:\n  any: [x]\n  nope: [y]\n", 5, 3, `rule "t/x": match: unknown field "nope"`},
		{"unknown threshold field", ruleYAML + "match: x\nthreshold: {count: 2, within: 1m, per: host}\n", 4, 35, `threshold: unknown field "per"`},
		{"unknown advice field", ruleYAML + "match: x\nadvice:\n  - text: hi\n    txet: hi\n", 6, 5, `advice[0]: unknown field "txet"`},
		{"unknown dead end field", ruleYAML + "match: x\ndead_ends: [{action: a, why_fails: b}]\n", 4, 25, `dead_ends[0]: unknown field "why_fails"`},
		{"unknown examples field", ruleYAML + "match: x\nexamples: {matches: [a]}\n", 4, 12, `examples: unknown field "matches"`},
		{"unknown probe field", ruleYAML + "probe: {condition: 'true', every: 1m}\n", 3, 28, `probe: unknown field "every"`},
		{"bad regex", ruleYAML + "match:\n  any: ['ok', '(x']\n", 4, 15, `rule "t/x": match: any[1]: error parsing regexp: missing closing )`},
		{"bad regex in list", ruleYAML + "match: ['(x']\n", 3, 9, `match: any[0]: error parsing regexp: missing closing )`},
		{"bad unless regex", ruleYAML + "match: {any: [x], unless: ['[a']}\n", 3, 28, `match: unless[0]: error parsing regexp: missing closing ]`},
		{"bad follow regex", ruleYAML + "match: x\nfollow: ['a)']\n", 4, 10, `follow[0]: error parsing regexp: unexpected )`},
		{"bad resolve regex", ruleYAML + "match: x\nresolve: ['*']\n", 4, 11, `resolve[0]: error parsing regexp: missing argument`},
		{"resolve_when unknown name", ruleYAML + "match: x\nresolve_when: 'vm.overcommit_memory == 1 && thp.enabeld == \"never\"'\n", 4, 0, `rule "t/x": resolve_when: type facts.THP has no field enabeld`},
		{"resolve_when not a bool", ruleYAML + "match: x\nresolve_when: 'vm.overcommit_memory'\n", 4, 0, `resolve_when: expected bool`},
		{"resolve_when on a probe", ruleYAML + "probe: {condition: 'true'}\nresolve_when: 'true'\n", 4, 15, `resolve_when: needs match (a probe resolves when its condition clears)`},
		{"cause template", ruleYAML + "match: x\ncause: 'killed: {{.Captures.pid'\n", 4, 8, `cause: template: text:1: unclosed action`},
		{"empty pattern", ruleYAML + "match: ''\n", 3, 8, "match: empty pattern"},
		{"null pattern", ruleYAML + "match: [x, ~]\n", 3, 12, "match: any[1]: empty item"},
		{"pattern not a string", ruleYAML + "match: {any: [{a: b}]}\n", 3, 15, "match: any[0]: expected a pattern string, got a mapping"},
		{"match without any or all", ruleYAML + "match: {unless: [x]}\n", 3, 8, "match: one of any and all is required"},
		{"match empty list", ruleYAML + "match: []\n", 3, 8, "match: no patterns"},
		{"bad duration", ruleYAML + "match: x\ncooldown: 5 minutes\n", 4, 11, `cooldown: invalid duration "5 minutes"`},
		{"duration without unit", ruleYAML + "match: x\ngroup_within: 5\n", 4, 15, `group_within: invalid duration "5"`},
		{"negative duration", ruleYAML + "match: x\nresolve_after: -1m\n", 4, 16, `resolve_after: negative duration "-1m"`},
		{"duration not scalar", ruleYAML + "match: x\ncooldown: [1m]\n", 4, 11, "cooldown: expected a duration, got a list"},
		{"bad severity", ruleYAML + "severity: high\nmatch: x\n", 3, 11, `severity: unknown severity "high" (want info, warning or critical)`},
		{"severity not scalar", ruleYAML + "severity: [info]\nmatch: x\n", 3, 11, "severity: expected a severity, got a list"},
		{"threshold count zero", ruleYAML + "match: x\nthreshold: {count: 0, within: 1m}\n", 4, 20, "threshold: count must be at least 1"},
		{"threshold without within", ruleYAML + "match: x\nthreshold: {count: 2}\n", 4, 12, "threshold: within must be a positive duration"},
		{"threshold bad count type", ruleYAML + "match: x\nthreshold: {count: many, within: 1m}\n", 4, 0, "threshold: count: cannot unmarshal !!str `many` into int"},
		{"condition unknown name", ruleYAML + "probe:\n  condition: vm.overcommit_memroy != 1 && foo\n", 4, 43, "probe: condition: unknown name foo"},
		{"condition unknown field", ruleYAML + "match: x\nadvice:\n  - text: hi\n    when: \"commit.rato > 0.9\"\n", 6, 19, `advice[0]: when: type facts.Commit has no field rato`},
		{"condition type mismatch", ruleYAML + "probe: {condition: 'commit.mode == \"strict\"'}\n", 3, 33, "probe: condition: invalid operation: == (mismatched types int64 and string)"},
		{"condition not bool", ruleYAML + "probe: {condition: commit.ratio}\n", 3, 20, "probe: condition: expected bool, but got float64"},
		{"condition block scalar", ruleYAML + "probe:\n  condition: |\n    commit.mode == 2 &&\n      bogus\n", 4, 14, "probe: condition: unknown name bogus"},
		{"condition empty", ruleYAML + "probe: {condition: ''}\n", 3, 20, `probe: condition: expected a condition, got ""`},
		{"probe without condition", ruleYAML + "probe: {interval: 1m}\n", 3, 8, "probe: condition is required"},
		{"probe zero interval", ruleYAML + "probe: {condition: 'true', interval: 0s}\n", 3, 38, "probe: interval must be a positive duration"},
		{"advice bad field", ruleYAML + "match: x\nadvice:\n  - text: '{{.Comit.LimitKB}}'\n", 5, 11, `advice[0]: text: template: text:1:8: executing "text" at <.Comit.LimitKB>: can't evaluate field Comit in type facts.Env`},
		{"advice bad syntax", ruleYAML + "match: x\nadvice: [{text: '{{.Commit'}]\n", 4, 17, `advice[0]: text: template: text:1: unclosed action`},
		{"advice unknown func", ruleYAML + "match: x\nadvice: [{text: '{{gib .Commit.LimitKB}}'}]\n", 4, 17, `function "gib" not defined`},
		{"advice func wrong type", ruleYAML + "match: x\nadvice: [{text: '{{kb .Host}}'}]\n", 4, 17, `wrong type for value; expected int64; got string`},
		{"advice without text", ruleYAML + "match: x\nadvice: [{when: 'true'}]\n", 4, 10, "advice[0]: text is required"},
		{"advice rate out of range", ruleYAML + "match: x\nadvice: [{text: a, success_rate: 90}]\n", 4, 34, "advice[0]: success_rate: 90 is not a ratio between 0 and 1"},
		{"dead end empty", ruleYAML + "match: x\ndead_ends: [{fail_rate: 0.5}]\n", 4, 13, "dead_ends[0]: one of action and why is required"},
		{"dead end rate", ruleYAML + "match: x\ndead_ends: [{why: w, fail_rate: -1}]\n", 4, 33, "dead_ends[0]: fail_rate: -1 is not a ratio"},
		{"bad key template", ruleYAML + "match: x\nkey: '{{.Rule}}/{{.Hots}}'\n", 4, 6, `key: template: key:1:12: executing "key" at <.Hots>: can't evaluate field Hots in type rules.KeyData`},
		{"key not a string", ruleYAML + "match: x\nkey: [a]\n", 4, 6, "key: expected a key template, got a list"},
		{"missing id", "title: T\nmatch: x\n", 1, 1, "rule: id is required"},
		{"bad id", "id: Redis_Fork\ntitle: T\nmatch: x\n", 1, 5, `rule "Redis_Fork": id: "Redis_Fork" is not domain/slug`},
		{"missing title", "id: t/x\nmatch: x\n", 1, 1, `rule "t/x": title is required`},
		{"both match and probe", ruleYAML + "match: x\nprobe: {condition: 'true'}\n", 4, 8, `rule "t/x": probe: a rule has either match or probe, not both`},
		{"neither match nor probe", ruleYAML + "severity: info\n", 1, 1, `rule "t/x": one of match and probe is required`},
		{"null match", ruleYAML + "match: ~\n", 1, 1, "one of match and probe is required"},
		{"follow needs match", ruleYAML + "probe: {condition: 'true'}\nfollow: [x]\n", 4, 9, "follow: needs match"},
		{"resolve needs match", ruleYAML + "probe: {condition: 'true'}\nresolve: [x]\n", 4, 10, "resolve: needs match"},
		{"tags wrong type", ruleYAML + "match: x\ntags: [a, [b]]\n", 4, 0, "tags[1]: cannot unmarshal !!seq into string"},
		{"labels wrong type", ruleYAML + "match: x\nlabels: [a]\n", 4, 0, "labels: cannot unmarshal !!seq into map[string]string"},
		{"bad source glob", ruleYAML + "match: x\nsources: ['redis[']\n", 4, 10, `sources[0]: "redis[": syntax error in pattern`},
		{"bad label glob", ruleYAML + "match: x\nlabels: {pod: 'a[b'}\n", 4, 9, `labels: pod: "a[b": syntax error in pattern`},
		{"rule not a mapping", "- just a string\n", 1, 3, `rule: expected a mapping, got "just a string"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse("rules.d/t.yaml", []byte(tt.yaml))
			require.Error(t, err)
			require.Empty(t, rs)
			errs := leafErrors(t, err)
			require.Len(t, errs, 1, "%v", err)
			e := errs[0]
			require.Equal(t, "rules.d/t.yaml", e.File)
			require.Equal(t, tt.line, e.Line, "%v", err)
			if tt.col > 0 {
				require.Equal(t, tt.col, e.Column, "%v", err)
			}
			require.Contains(t, e.Error(), tt.want)
			require.NotContains(t, e.Error(), "\n", "errors are one line")
		})
	}
}

func TestPatternUnmarshal(t *testing.T) {
	var p Pattern
	require.NoError(t, yaml.Unmarshal([]byte(`'fork: (?P<error>Cannot allocate memory)'`), &p))
	require.Equal(t, 1, p.Line)
	require.Equal(t, []string{"", "error"}, p.Regexp.SubexpNames())

	err := yaml.Unmarshal([]byte("\n  '(x'"), &p)
	require.ErrorContains(t, err, "2:3: error parsing regexp: missing closing )")
}

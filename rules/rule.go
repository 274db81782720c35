// Package rules defines cowbell's rules: what a log line must say to matter, and the
// knowledge that turns it into a diagnosis (root cause, advice, dead ends, docs).
//
// Rules are YAML (one or many a file) or knowledge-base entries in JSON; every load
// error names file, line and field. Patterns, keys and conditions compile once, at load.
package rules

import (
	"regexp"
	"text/template"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Severity is how urgent a rule's incident is.
type Severity string

// Severities, least urgent first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rule is one compiled rule.
type Rule struct {
	ID       string   `yaml:"id" json:"id"`
	Title    string   `yaml:"title" json:"title"`
	Severity Severity `yaml:"severity" json:"severity"`
	Tags     []string `yaml:"tags" json:"tags,omitempty"`

	// Sources limits the rule to lines of these source names (glob patterns); empty
	// means every source.
	Sources []string `yaml:"sources" json:"sources,omitempty"`
	// Labels limits the rule to lines whose labels match (label → glob pattern).
	Labels map[string]string `yaml:"labels" json:"labels,omitempty"`

	// Match decides which lines are hits. A rule without Match is a probe.
	Match *Match `yaml:"match" json:"match,omitempty"`
	// Follow patterns only fold a line into an open incident of this rule (a crash's
	// aftermath); they never open one.
	Follow []Pattern `yaml:"follow" json:"follow,omitempty"`
	// Resolve patterns close the open incident with the same key.
	Resolve []Pattern `yaml:"resolve" json:"resolve,omitempty"`
	// ResolveAfter closes an incident after this long without a hit (the quiet period);
	// zero keeps it open until a resolve line.
	ResolveAfter Duration `yaml:"resolve_after" json:"resolve_after,omitempty"`
	// ResolveWhen is a condition over the snapshot that resolves the rule's open
	// incidents when it holds on a fresh one (the setting a warning is about was
	// fixed: `vm.overcommit_memory == 1`). It is evaluated every snapshot interval.
	ResolveWhen *Condition `yaml:"resolve_when" json:"resolve_when,omitempty"`

	Threshold *Threshold `yaml:"threshold" json:"threshold,omitempty"`
	// Cooldown suppresses repeat notifications of one incident key; the next one after
	// it carries how many hits were folded in.
	Cooldown Duration `yaml:"cooldown" json:"cooldown,omitempty"`
	// GroupWithin folds hits arriving within this of the incident's last hit into it;
	// a later hit starts a new occurrence of the incident.
	GroupWithin Duration `yaml:"group_within" json:"group_within,omitempty"`
	// Key is a template deciding what counts as the same incident (see KeyData).
	Key *KeyTemplate `yaml:"key" json:"key,omitempty"`

	// Probe makes a rule without a log pattern: a condition over the snapshot,
	// evaluated every interval, open while it holds.
	Probe *Probe `yaml:"probe" json:"probe,omitempty"`

	RootCause string `yaml:"root_cause" json:"root_cause,omitempty"`
	// Cause is what an incident of this rule means for another incident about the
	// same process, a template over its captures: the kernel's OOM kill is the cause
	// of PostgreSQL's "terminated by signal 9" ("killed by the kernel OOM killer:
	// anon-rss {{.Captures.anon_rss_kb}} kB"). The page of the other incident says it.
	Cause    *Text     `yaml:"cause" json:"cause,omitempty"`
	Advice   []Advice  `yaml:"advice" json:"advice,omitempty"`
	DeadEnds []DeadEnd `yaml:"dead_ends" json:"dead_ends,omitempty"`
	Docs     []string  `yaml:"docs" json:"docs,omitempty"`
	Versions []string  `yaml:"versions" json:"versions,omitempty"`
	Examples Examples  `yaml:"examples" json:"-"`

	// File, Line and Column say where the rule was defined; Builtin marks the
	// embedded pack.
	File    string `yaml:"-" json:"-"`
	Line    int    `yaml:"-" json:"-"`
	Column  int    `yaml:"-" json:"-"`
	Builtin bool   `yaml:"-" json:"-"`
}

// Match is a rule's line test: Any (at least one) or All of its patterns, and none of
// Unless. IgnoreCase folds case in every pattern of the rule.
type Match struct {
	Any        []Pattern `yaml:"any" json:"any,omitempty"`
	All        []Pattern `yaml:"all" json:"all,omitempty"`
	Unless     []Pattern `yaml:"unless" json:"unless,omitempty"`
	IgnoreCase bool      `yaml:"ignore_case" json:"ignore_case,omitempty"`
}

// Pattern is one compiled RE2 pattern. Named groups become the hit's captures.
type Pattern struct {
	Regexp *regexp.Regexp
	Line   int
	Column int
}

// Threshold opens an incident only after Count hits of one key within Within.
type Threshold struct {
	Count  int      `yaml:"count" json:"count"`
	Within Duration `yaml:"within" json:"within"`
}

// Probe is a standing condition over the snapshot.
type Probe struct {
	Condition Condition `yaml:"condition" json:"condition"`
	Interval  Duration  `yaml:"interval" json:"interval,omitempty"`
}

// Advice is one piece of advice; it applies only when its condition (if any) holds on
// the incident's snapshot. Text is a template over facts.Env.
type Advice struct {
	Text Text       `yaml:"text" json:"text"`
	When *Condition `yaml:"when" json:"when,omitempty"`
	// SuccessRate comes from knowledge-base entries (0 when unknown).
	SuccessRate float64 `yaml:"success_rate" json:"success_rate,omitempty"`
	// Docs are the documents this advice rests on, when they are not the rule's.
	Docs []string `yaml:"docs" json:"docs,omitempty"`
}

// DeadEnd is a fix people try that does not work here, and why.
type DeadEnd struct {
	Action   string  `yaml:"action" json:"action"`
	Why      string  `yaml:"why" json:"why"`
	FailRate float64 `yaml:"fail_rate" json:"fail_rate,omitempty"`
}

// Examples are the rule's own tests: lines that must and must not match.
type Examples struct {
	Match   []string `yaml:"match" json:"match,omitempty"`
	NoMatch []string `yaml:"no_match" json:"no_match,omitempty"`
}

// Duration is a time.Duration written as "5m" in YAML.
type Duration time.Duration

// Condition is a compiled, type-checked expression over facts.Env.
type Condition struct {
	Source  string
	Program *vm.Program
	Line    int
	Column  int
}

// Text is an advice text compiled as a text/template over facts.Env.
type Text struct {
	Source   string
	Template *template.Template
}

// KeyTemplate is a compiled key template over KeyData.
type KeyTemplate struct {
	Source   string
	Template *template.Template
	fast     []keyPart // Template compiled without reflection (keyfast.go); nil: not possible
}

// KeyData is what a key template sees: {{.Rule}}, {{.Host}}, {{.Node}},
// {{.Source}}, {{.Stream}}, {{.Captures.pid}}, {{.Labels.container}}.
type KeyData struct {
	Rule     string
	Host     string
	Node     string // machine id + boot id: one node, many sidecars
	Source   string
	Stream   string // the file a line was read from, or "journal": one log, one writer
	Captures map[string]string
	Labels   map[string]string
}

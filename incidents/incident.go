package incidents

import (
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// Schema is the version tag of the incident JSON.
const Schema = "cowbell.incident/v1"

// Status is an incident's state as receivers see it.
type Status string

// Statuses.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Incident is what receivers hear about, in the cowbell.incident/v1 JSON schema
// (docs/incident.md). It is self-contained: the outbox stores it as JSON and a restart
// delivers it without the rule that made it. Key is every receiver's dedup key.
type Incident struct {
	Schema   string            `json:"schema"`
	Status   Status            `json:"status"`
	Key      string            `json:"key"`
	Rule     RuleRef           `json:"rule"`
	Summary  string            `json:"summary"`
	Host     string            `json:"host"`
	Source   string            `json:"source,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Lines    []Line            `json:"lines"`
	Count    int               `json:"count"`
	Folded   int               `json:"folded"`
	Captures map[string]string `json:"captures,omitempty"`

	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// ReadAt is when cowbell read the newest line, set only when that was more than
	// a minute after the line's own time (a backlog read after a restart): the page
	// then says when it happened.
	ReadAt *time.Time `json:"read_at,omitempty"`

	RootCause string          `json:"root_cause,omitempty"`
	Advice    []Advice        `json:"advice"`
	DeadEnds  []DeadEnd       `json:"dead_ends,omitempty"`
	Docs      []string        `json:"docs,omitempty"`
	Snapshot  *facts.Snapshot `json:"snapshot,omitempty"`
	// Related are recent lines of other rules about the same process (the same pid
	// capture): the kernel's OOM kill of a PostgreSQL backend and PostgreSQL's report
	// of that backend's death.
	Related []Related `json:"related,omitempty"`

	// Test marks an incident made by `cowbell notify test`.
	Test bool `json:"test,omitempty"`

	// Truncated says what a receiver cut to fit its vendor's size limit (see
	// notifiers.Fit); absent when nothing was cut.
	Truncated *Truncated `json:"truncated,omitempty"`
}

// Truncated is what was cut from an incident to fit a receiver's size limit, in the
// order it is cut.
type Truncated struct {
	// Limit is the receiver's budget in bytes; Size the payload's size before.
	Limit int `json:"limit"`
	Size  int `json:"size"`
	// LineBytes is the length lines longer than it were cut to, LinesCut how many.
	LineBytes int `json:"line_bytes,omitempty"`
	LinesCut  int `json:"lines_cut,omitempty"`
	// LinesDropped is how many lines were left out (the first and the newest stay).
	LinesDropped int `json:"lines_dropped,omitempty"`
	// Snapshot is "trimmed" (process list, Redis INFO and PostgreSQL settings left
	// out) or "dropped".
	Snapshot string `json:"snapshot,omitempty"`
	// Text says the root cause, advice and dead ends were shortened.
	Text bool `json:"text,omitempty"`
	// Fields says captures, labels and related lines were shortened.
	Fields bool `json:"fields,omitempty"`
}

// RuleRef names the rule behind an incident.
type RuleRef struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Tags     []string `json:"tags,omitempty"`
}

// Line is one log line of an incident.
type Line struct {
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
	Stream string    `json:"stream,omitempty"`
}

// Advice is advice that applied on the incident's snapshot, rendered for this host.
type Advice struct {
	Text string `json:"text"`
	// When is the condition that held ("" for unconditional advice); Facts are the
	// snapshot values it read, so the reader sees why it applied.
	When        string            `json:"when,omitempty"`
	Facts       map[string]string `json:"facts,omitempty"`
	SuccessRate float64           `json:"success_rate,omitempty"`
}

// Related is a line of another incident about the same process.
type Related struct {
	Rule string    `json:"rule"`
	Key  string    `json:"key"`
	PID  string    `json:"pid"`
	Task string    `json:"task,omitempty"`
	Time time.Time `json:"time"`
	Line string    `json:"line"`
	// Captures are the other incident's captures; Cause is what its rule says it
	// means for this one (its `cause`, rendered on them): "killed by the kernel OOM
	// killer: anon-rss 3145728 kB".
	Captures map[string]string `json:"captures,omitempty"`
	Cause    string            `json:"cause,omitempty"`
}

// DeadEnd is a fix that does not work here, and why.
type DeadEnd struct {
	Action   string  `json:"action"`
	Why      string  `json:"why"`
	FailRate float64 `json:"fail_rate,omitempty"`
}

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
}

// DeadEnd is a fix that does not work here, and why.
type DeadEnd struct {
	Action   string  `json:"action"`
	Why      string  `json:"why"`
	FailRate float64 `json:"fail_rate,omitempty"`
}

// Package incidents turns hits into incidents: the Tracker decides, on each line's own
// time, what a hit means (threshold, cooldown, grouping, follow and resolve, probes),
// keeps each incident's State across restarts, joins incidents about one process, and
// Build makes the Incident that receivers hear about. It is synchronous and starts no
// goroutines: the pipeline owns the loop.
package incidents

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventKind is what a Tracker decided about an incident.
type EventKind int

// Event kinds. Open and Repeat and Resolve are notified; Fold only updates state.
const (
	// Open: a new incident (or a new occurrence of a key after a gap).
	Open EventKind = iota + 1
	// Repeat: a hit after the cooldown; State.Folded says how many were folded in.
	Repeat
	// Fold: a hit folded silently into an open incident (inside the cooldown, or a
	// follow line).
	Fold
	// Resolve: a resolve line, a probe that cleared, or the quiet period passed.
	Resolve
)

func (k EventKind) String() string {
	switch k {
	case Open:
		return "open"
	case Repeat:
		return "repeat"
	case Fold:
		return "fold"
	case Resolve:
		return "resolve"
	}
	return "unknown"
}

// Notify reports whether receivers hear of events of this kind (Event.Notify also
// leaves out late ones).
func (k EventKind) Notify() bool { return k == Open || k == Repeat || k == Resolve }

// Event is one decision of the Tracker, with the incident's state after it.
type Event struct {
	Kind  EventKind
	State State
	// Hit says a match hit made this decision (not a follow or resolve line, a tick
	// or a probe): the state's newest line is that hit's.
	Hit bool
	// HitPID is the pid the hit's own line named (its pid capture), "" when it named
	// none: the pid join records the lines that name a process, not every line of an
	// incident that once did.
	HitPID string
	// Late marks a decision receivers do not hear of although its kind is notified:
	// a hit on a line older than the Tracker's MaxAge when cowbell read it (recorded
	// and counted, not paged), or the resolve of an incident that was never paged.
	Late bool
}

// Notify reports whether receivers hear of this event.
func (e Event) Notify() bool { return e.Kind.Notify() && !e.Late }

// MaxLines caps the lines an incident keeps (newest last).
const MaxLines = 20

// State is one incident as the Tracker keeps it; the state store persists it (Encode,
// Decode), so a restart neither forgets an open incident nor pages for it again.
type State struct {
	Key       string            `json:"key"`
	Rule      string            `json:"rule"`
	Source    string            `json:"source,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Captures  map[string]string `json:"captures,omitempty"`
	Lines     []LineRef         `json:"lines,omitempty"` // newest last, at most MaxLines
	Count     int               `json:"count"`           // hits since the occurrence opened
	Folded    int               `json:"folded"`          // hits since the last notification
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	// Notified is when the last notification went out (event time); zero while a
	// threshold is still pending.
	Notified time.Time `json:"notified"`
	Resolved bool      `json:"resolved,omitempty"`
	// ResolvedAt is when it resolved: the resolving line's time, or the clock when a
	// probe or a resolve condition cleared or the quiet period ended.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Heard is when cowbell read the newest hit or follow line, by its clock. A line
	// read from a backlog (after a restart, or a first start at the beginning) is
	// heard long after its own time: the quiet period counts from Heard.
	Heard time.Time `json:"heard,omitzero"`
	// Silent marks an incident opened from lines older than MaxAge when read: it is
	// recorded and counted, and receivers hear of it only if a hit comes in time.
	Silent bool `json:"silent,omitempty"`
	// Page and PageRule name the incident whose page this one is folded into (one
	// event seen by two rules, joined by pid); empty while it has its own page.
	Page     string `json:"page,omitempty"`
	PageRule string `json:"page_rule,omitempty"`
	// ResolvedBy says what resolved it: "line" (a resolve line), "probe" (a probe or
	// a resolve condition cleared), "quiet" (the quiet period passed).
	ResolvedBy string `json:"resolved_by,omitempty"`
	// Pending holds hit times inside the threshold window before the incident opens.
	Pending []time.Time `json:"pending,omitempty"`
}

// LineRef is a line kept in an incident.
type LineRef struct {
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
	Stream string    `json:"stream,omitempty"`
}

// Encode is a State as the store keeps it.
func (s State) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode incident %q: %w", s.Key, err)
	}
	return b, nil
}

// Decode reads a State that Encode wrote; key is the store's key, which the State must
// carry.
func Decode(key string, b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("decode incident %q: %w", key, err)
	}
	if s.Key != key || s.Rule == "" {
		return State{}, fmt.Errorf("decode incident %q: record names key %q and rule %q", key, s.Key, s.Rule)
	}
	return s, nil
}

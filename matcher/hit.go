// Package matcher decides which rules a line fires: Line → []Hit. It is pure: it keeps
// no state between lines and starts no goroutines; what hits mean over time is the
// incidents package's business.
package matcher

import (
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Hit is one rule firing on a line.
type Hit struct {
	Rule     *rules.Rule
	Line     sources.Line
	Captures map[string]string // named groups: rules.CapturePID, ...
	Kind     Kind              // which of the rule's pattern lists fired
}

// Kind says which of a rule's pattern lists a hit comes from.
type Kind uint8

// Hit kinds.
const (
	// KindMatch: the rule's match patterns (any, all, unless) fired: a hit that counts.
	KindMatch Kind = iota
	// KindFollow: one of its follow patterns matched: the aftermath of an incident.
	KindFollow
	// KindResolve: one of its resolve patterns matched: the condition cleared.
	KindResolve
)

func (k Kind) String() string {
	switch k {
	case KindMatch:
		return "match"
	case KindFollow:
		return "follow"
	case KindResolve:
		return "resolve"
	}
	return "unknown"
}

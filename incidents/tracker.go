package incidents

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Identity names where a Tracker runs; incident keys are built from it.
type Identity struct {
	Host string // host name
	Node string // machine id and boot id: one node, however many sidecars
}

// Tracker turns hits into incident events: thresholds, cooldowns, grouping and
// resolve, keyed by incident key and run on each line's own time, so a replay of an
// old log decides as the live run did. It is safe for concurrent use and starts no
// goroutines.
//
// Memory is bounded: a rule keeps at most MaxKeysPerRule open or pending keys; past
// that the least recently hit one is forgotten without an event.
type Tracker struct {
	m    *matcher.Matcher
	byID map[string]*rules.Rule
	id   Identity
	now  func() time.Time
	cfg  Config
	// since is when the Tracker started watching: a quiet period never counts time
	// before it (cowbell was not there to see a line).
	since time.Time

	mu        sync.Mutex
	heard     time.Time // the clock when the line being observed was read
	incidents map[string]*incident
	byRule    map[string]*ruleIncidents
	hits      []matcher.Hit // scratch, reused line after line
	// pages remembers, by incident id, the page each folded incident belongs to.
	pages map[string]pageRef
	// recent holds when pages (by incident id) resolved, for relatedWindow.
	recent map[string]time.Time
	// changed holds the incidents (by id, with their key) whose state changed since
	// the last Changes: the store rewrites only those.
	changed map[string]string
}

// Config is what the Tracker decides about events cowbell did not see live (the
// configuration's incidents: section).
type Config struct {
	// MaxAge is how old a line may be when cowbell reads it and still page: an
	// older hit (read from a backlog after a restart, or on a first start at the
	// beginning) is recorded and counted, not paged. 0 pages whatever its age.
	MaxAge time.Duration
}

// DefaultConfig is the Tracker's configuration unless the file says otherwise.
var DefaultConfig = Config{MaxAge: time.Hour}

// NewTracker returns a Tracker over m's rules. now is the clock for lines without a
// time, for Tick and for probes, and tells when a line was read. Without
// Configure, every hit pages whatever its age (as `cowbell replay` wants).
func NewTracker(m *matcher.Matcher, id Identity, now func() time.Time) *Tracker {
	t := &Tracker{
		m:         m,
		byID:      map[string]*rules.Rule{},
		id:        id,
		now:       now,
		since:     now(),
		incidents: map[string]*incident{},
		byRule:    map[string]*ruleIncidents{},
		changed:   map[string]string{},
		pages:     map[string]pageRef{},
		recent:    map[string]time.Time{},
	}
	for _, r := range m.Rules() {
		t.byID[r.ID] = r
	}
	return t
}

// Configure sets the Tracker's configuration; call it before the first line.
func (t *Tracker) Configure(c Config) *Tracker {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfg = c
	return t
}

// SetMatcher makes m the Tracker's matcher from the next line on: a Matcher over the
// same rules, such as one Tune fitted to the first lines read. Hits, and so events,
// are the same with either; only the time a line takes changes. A Matcher over other
// rules is refused.
func (t *Tracker) SetMatcher(m *matcher.Matcher) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, now := t.m.Rules(), m.Rules()
	if len(old) != len(now) {
		return fmt.Errorf("set matcher: %d rules, the tracker's has %d", len(now), len(old))
	}
	for i := range old {
		if old[i] != now[i] {
			return fmt.Errorf("set matcher: rule %d is %q, the tracker's is %q", i, now[i].ID, old[i].ID)
		}
	}
	t.m = m
	return nil
}

// Observe matches l (match, follow and resolve patterns) and returns what the hits
// change, in rule order: match hits first, then follow lines, then resolve lines. A
// line that matches nothing returns nil without allocating.
func (t *Tracker) Observe(l sources.Line) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hits = t.m.MatchAll(l, t.hits[:0])
	return t.observe(l)
}

// ObserveHits is Observe with l's hits found already: what MatchAll, of a Matcher
// over the Tracker's rules, returned for l (a replay matches lines on several cores
// and decides them here in order).
func (t *Tracker) ObserveHits(l sources.Line, hits []matcher.Hit) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hits = append(t.hits[:0], hits...)
	return t.observe(l)
}

// observe decides t.hits, the hits of l.
func (t *Tracker) observe(l sources.Line) []Event {
	if len(t.hits) == 0 {
		return nil
	}
	t.heard = t.now()
	at := l.Time
	if at.IsZero() {
		at = t.heard
	}
	var events []Event
	for i, h := range t.hits {
		switch h.Kind {
		case matcher.KindMatch:
			events = t.onHit(h, at, events)
		case matcher.KindFollow:
			if !matched(t.hits[:i], h.Rule) { // a hit already counted the line
				events = t.onFollow(h, at, events)
			}
		case matcher.KindResolve:
			events = t.onResolve(h, at, events)
		}
	}
	clear(t.hits) // drop references to the line until the next one
	return events
}

// matched reports whether hs holds a match hit of r.
func matched(hs []matcher.Hit, r *rules.Rule) bool {
	for _, h := range hs {
		if h.Rule == r && h.Kind == matcher.KindMatch {
			return true
		}
	}
	return false
}

// onHit applies a match hit: it opens an incident (once the threshold is reached),
// or counts into the open one and repeats or folds by the cooldown.
func (t *Tracker) onHit(h matcher.Hit, at time.Time, events []Event) []Event {
	r := h.Rule
	key := t.key(r, t.keyData(h), false)
	inc := t.incidents[incidentID(r.ID, key)]
	if inc != nil && inc.open && r.GroupWithin > 0 && at.Sub(inc.st.LastSeen) > time.Duration(r.GroupWithin) {
		t.forget(inc) // a gap: this hit starts a new occurrence
		inc = nil
	}
	if inc == nil {
		inc = t.add(r, newState(r, key, h, at), false)
	}
	if !inc.open {
		return t.pendingHit(inc, h.Line, at, events)
	}
	st := &inc.st
	st.Count++
	st.Folded++
	inc.seen(h.Line, at, t.heard)
	inc.learn(h.Captures)
	t.touch(inc)
	t.change(inc)
	if r.Cooldown == 0 || at.Sub(st.Notified) >= time.Duration(r.Cooldown) || (st.Silent && !t.late(at)) {
		st.Notified = at
		ev := t.event(inc, Repeat, at, h.Captures[rules.CapturePID])
		st.Folded = 0
		return append(events, ev)
	}
	return append(events, Event{Kind: Fold, State: inc.snapshot(), Hit: true, HitPID: strings.Clone(h.Captures[rules.CapturePID])})
}

// late reports whether a line of time at was read too long after it to page.
func (t *Tracker) late(at time.Time) bool {
	return t.cfg.MaxAge > 0 && t.heard.Sub(at) > t.cfg.MaxAge
}

// event makes the Open or Repeat event of a hit at time at, deciding whether
// receivers hear of it: a late hit is recorded, not paged (an incident it opens stays
// silent), and the first timely hit of a silent incident opens its page.
func (t *Tracker) event(inc *incident, kind EventKind, at time.Time, pid string) Event {
	st := &inc.st
	late := t.late(at)
	switch {
	case late && kind == Open:
		st.Silent = true
	case !late && st.Silent:
		st.Silent = false
		kind = Open
	}
	t.change(inc)
	return Event{Kind: kind, State: inc.snapshot(), Late: late, Hit: true, HitPID: strings.Clone(pid)}
}

// pendingHit counts a hit towards the rule's threshold and opens the incident when
// enough hits fall inside the window.
func (t *Tracker) pendingHit(inc *incident, l sources.Line, at time.Time, events []Event) []Event {
	st := &inc.st
	inc.seen(l, at, t.heard)
	t.touch(inc)
	t.change(inc)
	if th := inc.rule.Threshold; th != nil && th.Count > 1 {
		st.Pending = append(st.Pending, at)
		inc.prunePending(at)
		if len(st.Pending) < th.Count {
			st.Count = len(st.Pending)
			t.change(inc)
			return events
		}
		st.FirstSeen = st.Pending[0]
	}
	st.Count = max(1, len(st.Pending))
	st.Folded = 0
	st.Notified = at
	st.Pending = nil
	inc.open = true
	return append(events, t.event(inc, Open, at, st.Captures[rules.CapturePID]))
}

// onFollow folds a follow line into the open incident of its key or, failing that,
// the most recently hit open incident of the rule from the same source. It never opens
// one. The line is kept and moves LastSeen (the aftermath extends the occurrence), but
// it is not a hit: Count and Folded stay.
//
// A line whose key names its instance (the key template reads a capture the line
// has: a Redis pid, a unit) folds only into that instance's incident.
func (t *Tracker) onFollow(h matcher.Hit, at time.Time, events []Event) []Event {
	if t.byRule[h.Rule.ID] == nil {
		return events // the rule has no incident to fold into
	}
	d := t.keyData(h)
	key := t.key(h.Rule, d, false)
	inc := t.incidents[incidentID(h.Rule.ID, key)]
	if inc == nil || !inc.open {
		inc = t.latestOpen(h.Rule.ID, h.Line.Source)
		if inc != nil && t.namesInstance(h.Rule, d, key) {
			inc = nil
		}
	}
	if inc == nil {
		return events
	}
	inc.seen(h.Line, at, t.heard)
	t.touch(inc)
	t.change(inc)
	return append(events, Event{Kind: Fold, State: inc.snapshot()})
}

// onResolve closes the open incident of the line's key or, failing that, every open
// incident of the rule from the same source. A pending threshold of the key is
// dropped: the condition cleared before it counted.
//
// A line whose key names its instance resolves only that instance's incident: one
// Redis's "Background saving terminated with success" says nothing about another's
// failed fork in a shared log.
func (t *Tracker) onResolve(h matcher.Hit, at time.Time, events []Event) []Event {
	if t.byRule[h.Rule.ID] == nil {
		return events // the rule has no incident, open or pending
	}
	d := t.keyData(h)
	key := t.key(h.Rule, d, false)
	inc := t.incidents[incidentID(h.Rule.ID, key)]
	if inc != nil && inc.open {
		return t.resolve(inc, &h.Line, at, ResolvedByLine, events)
	}
	if inc != nil {
		t.forget(inc)
	}
	open := t.openOf(h.Rule.ID, h.Line.Source)
	if len(open) == 0 || t.namesInstance(h.Rule, d, key) {
		return events
	}
	for _, inc := range open {
		events = t.resolve(inc, &h.Line, at, ResolvedByLine, events)
	}
	return events
}

// What resolved an incident (State.ResolvedBy).
const (
	ResolvedByLine  = "line"  // a resolve line
	ResolvedByProbe = "probe" // a probe's condition, or a rule's resolve condition, cleared
	ResolvedByQuiet = "quiet" // the quiet period passed
)

// resolve emits the incident's Resolve event (with the resolving line, if any) and
// forgets it. A silent incident's resolve is late: nobody was paged.
func (t *Tracker) resolve(inc *incident, l *sources.Line, at time.Time, by string, events []Event) []Event {
	if l != nil {
		inc.addLine(*l, at)
	}
	inc.st.Resolved = true
	inc.st.ResolvedAt = at
	inc.st.ResolvedBy = by
	t.forget(inc)
	return append(events, Event{Kind: Resolve, State: inc.snapshot(), Late: inc.st.Silent})
}

func (t *Tracker) keyData(h matcher.Hit) rules.KeyData {
	return rules.KeyData{
		Rule:     h.Rule.ID,
		Host:     t.id.Host,
		Node:     t.id.Node,
		Source:   h.Line.Source,
		Stream:   h.Line.Stream,
		Captures: h.Captures,
		Labels:   h.Line.Labels,
	}
}

// namesInstance reports whether a follow or resolve line's key (key, rendered from d)
// depends on what the
// line itself says: the key template reads a capture or a label the line has (a Redis
// pid, a journal unit), so the line says which incident it belongs to and must not
// fall back to another one of its source.
func (t *Tracker) namesInstance(r *rules.Rule, d rules.KeyData, key string) bool {
	if len(d.Captures) == 0 && len(d.Labels) == 0 {
		return false
	}
	bare := d
	bare.Captures, bare.Labels = nil, nil
	return key != t.key(r, bare, false)
}

// key runs the rule's key template. Without one (or if it fails, which a template
// over KeyData only does when written to) the key is rule@host, rule@node for probes.
func (t *Tracker) key(r *rules.Rule, d rules.KeyData, probe bool) string {
	if k, ok := r.Key.Render(d); ok {
		return k
	}
	if probe {
		return r.ID + "@" + d.Node
	}
	return r.ID + "@" + d.Host
}

// newState is the state of an incident a hit makes. What it keeps of the line is
// copied (see keepCaptures).
func newState(r *rules.Rule, key string, h matcher.Hit, at time.Time) State {
	return State{
		Key:       strings.Clone(key),
		Rule:      r.ID,
		Source:    h.Line.Source,
		Labels:    h.Line.Labels,
		Captures:  keepCaptures(h.Captures),
		FirstSeen: at,
		LastSeen:  at,
	}
}

package incidents

import (
	"cmp"
	"container/list"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// MaxKeysPerRule caps the open and pending incident keys one rule keeps. A flood of
// distinct keys (a capture that differs on every line) then costs bounded memory:
// past the cap the least recently hit key is forgotten, without an event.
const MaxKeysPerRule = 10000

// incident is one key's state inside the Tracker.
type incident struct {
	rule *rules.Rule
	st   State
	open bool // false while a threshold is pending
	elem *list.Element
}

// ruleIncidents orders one rule's incidents from least to most recently hit.
type ruleIncidents struct{ lru list.List }

func incidentID(rule, key string) string { return rule + "\x00" + key }

// seen records a hit or follow line of the incident.
func (inc *incident) seen(l sources.Line, at, heard time.Time) {
	inc.addLine(l, at)
	if at.After(inc.st.LastSeen) {
		inc.st.LastSeen = at
	}
	if heard.After(inc.st.Heard) {
		inc.st.Heard = heard
	}
}

// learn adds captures a later hit has and the opening one had not (the kernel's
// "Killed process ... anon-rss" after its "oom-kill:constraint=..." line). The
// captures that make the key, and any the opening hit set, stay as they were.
func (inc *incident) learn(caps map[string]string) {
	var merged map[string]string
	for k, v := range caps {
		if _, ok := inc.st.Captures[k]; ok || v == "" {
			continue
		}
		if merged == nil {
			merged = maps.Clone(inc.st.Captures)
			if merged == nil {
				merged = map[string]string{}
			}
		}
		merged[k] = strings.Clone(v) // see keepCaptures
	}
	if merged != nil {
		inc.st.Captures = merged // a new map: snapshots share the old one
	}
}

// addLine keeps the line, newest last, at most MaxLines. The text is copied (see
// keepCaptures).
func (inc *incident) addLine(l sources.Line, at time.Time) {
	lines := inc.st.Lines
	if len(lines) >= MaxLines {
		lines = append(lines[:0], lines[len(lines)-MaxLines+1:]...)
	}
	inc.st.Lines = append(lines, LineRef{Time: at, Text: strings.Clone(l.Text), Stream: l.Stream})
}

// keepCaptures copies a hit's captures for an incident to keep. A line's text, and so
// its captures, may be a substring of its whole read (the file source carves the lines
// of one read out of one string): whatever the tracker keeps of a line, its text, its
// captures and the pid of an event, is copied where it is kept, or the incident would
// hold the whole read in memory. A hit the tracker keeps nothing of (a resolve line
// with no incident to resolve) copies nothing.
func keepCaptures(caps map[string]string) map[string]string {
	if caps == nil {
		return nil
	}
	kept := make(map[string]string, len(caps))
	for k, v := range caps {
		kept[k] = strings.Clone(v)
	}
	return kept
}

// prunePending drops threshold hits (and their lines) older than the window before
// at, and reports whether it dropped any; a window of zero never expires.
func (inc *incident) prunePending(at time.Time) bool {
	th := inc.rule.Threshold
	if th == nil || th.Within <= 0 {
		return false
	}
	cutoff := at.Add(-time.Duration(th.Within))
	n := len(inc.st.Pending)
	inc.st.Pending = slices.DeleteFunc(inc.st.Pending, func(p time.Time) bool { return p.Before(cutoff) })
	inc.st.Lines = slices.DeleteFunc(inc.st.Lines, func(l LineRef) bool { return l.Time.Before(cutoff) })
	return len(inc.st.Pending) != n
}

// snapshot copies the state for an event or for persistence; the maps are shared and
// never written after the incident is made.
func (inc *incident) snapshot() State {
	s := inc.st
	s.Lines = slices.Clone(s.Lines)
	s.Pending = slices.Clone(s.Pending)
	return s
}

// add stores a new incident for r, evicting the rule's least recently hit one past
// MaxKeysPerRule.
func (t *Tracker) add(r *rules.Rule, st State, open bool) *incident {
	inc := &incident{rule: r, st: st, open: open}
	id := incidentID(r.ID, st.Key)
	if old := t.incidents[id]; old != nil {
		t.forget(old)
	}
	ri := t.byRule[r.ID]
	if ri == nil {
		ri = &ruleIncidents{}
		t.byRule[r.ID] = ri
	}
	inc.elem = ri.lru.PushBack(inc)
	t.incidents[id] = inc
	t.change(inc)
	if ri.lru.Len() > MaxKeysPerRule {
		t.forget(ri.lru.Front().Value.(*incident))
	}
	return inc
}

// touch marks the incident as the rule's most recently hit.
func (t *Tracker) touch(inc *incident) {
	t.byRule[inc.rule.ID].lru.MoveToBack(inc.elem)
}

func (t *Tracker) forget(inc *incident) {
	delete(t.incidents, incidentID(inc.rule.ID, inc.st.Key))
	delete(t.pages, incidentID(inc.rule.ID, inc.st.Key)) // a next occurrence owns its page
	t.change(inc)
	ri := t.byRule[inc.rule.ID]
	ri.lru.Remove(inc.elem)
	if ri.lru.Len() == 0 {
		delete(t.byRule, inc.rule.ID)
	}
}

// latestOpen returns the rule's most recently hit open incident from source.
func (t *Tracker) latestOpen(rule, source string) *incident {
	ri := t.byRule[rule]
	if ri == nil {
		return nil
	}
	for e := ri.lru.Back(); e != nil; e = e.Prev() {
		if inc := e.Value.(*incident); inc.open && inc.st.Source == source {
			return inc
		}
	}
	return nil
}

// openOf lists the rule's open incidents from source, oldest hit first.
func (t *Tracker) openOf(rule, source string) []*incident {
	ri := t.byRule[rule]
	if ri == nil {
		return nil
	}
	var out []*incident
	for e := ri.lru.Front(); e != nil; e = e.Next() {
		if inc := e.Value.(*incident); inc.open && inc.st.Source == source {
			out = append(out, inc)
		}
	}
	return out
}

// sorted lists every incident by rule and key, for deterministic output.
func (t *Tracker) sorted() []*incident {
	out := make([]*incident, 0, len(t.incidents))
	for _, inc := range t.incidents {
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b *incident) int {
		return cmp.Or(cmp.Compare(a.st.Rule, b.st.Rule), cmp.Compare(a.st.Key, b.st.Key))
	})
	return out
}

// quietFrom is when an incident's quiet period starts: when cowbell could first have
// seen a line after its last one. That is the last line's time for a line read live,
// when it was read for a line from a backlog, and never before the Tracker started
// watching (a restart does not count the time cowbell was down as quiet).
func (t *Tracker) quietFrom(inc *incident) time.Time {
	from := inc.st.LastSeen
	for _, at := range []time.Time{inc.st.Heard, t.since} {
		if at.After(from) {
			from = at
		}
	}
	return from
}

// Tick resolves open incidents whose rule has a quiet period (ResolveAfter) that has
// passed, by the Tracker's clock, since cowbell could have seen the next line (see
// quietFrom), and drops pending threshold hits that fell out of their window. Events
// come in rule and key order.
func (t *Tracker) Tick() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var events []Event
	for _, inc := range t.sorted() {
		if !inc.open {
			pruned := inc.prunePending(now)
			// A restored pending state whose rule lost its threshold has nothing to wait for.
			if th := inc.rule.Threshold; len(inc.st.Pending) == 0 || th == nil || th.Count <= 1 {
				t.forget(inc)
			} else if pruned {
				t.change(inc)
			}
			continue
		}
		quiet := time.Duration(inc.rule.ResolveAfter)
		if quiet > 0 && !t.quietFrom(inc).Add(quiet).After(now) {
			events = t.resolve(inc, nil, now, ResolvedByQuiet, events)
		}
	}
	return events
}

// Probe applies one evaluation of a probe rule: firing opens its incident (Open) when
// none is open and repeats it once per cooldown (Repeat; nothing inside the cooldown,
// and no repeats when the rule has no cooldown, since a standing condition is not a
// new hit); not firing resolves an open one. facts fills the key; empty Rule, Host and
// Node are taken from the rule and the Tracker's identity.
func (t *Tracker) Probe(r *rules.Rule, firing bool, facts rules.KeyData) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	facts.Rule = cmp.Or(facts.Rule, r.ID)
	facts.Host = cmp.Or(facts.Host, t.id.Host)
	facts.Node = cmp.Or(facts.Node, t.id.Node)
	key := t.key(r, facts, true)
	inc := t.incidents[incidentID(r.ID, key)]
	if !firing {
		if inc != nil && inc.open {
			return t.resolve(inc, nil, now, ResolvedByProbe, nil)
		}
		return nil
	}
	if inc == nil || !inc.open {
		inc = t.add(r, State{
			Key: key, Rule: r.ID, Source: facts.Source, Labels: facts.Labels, Captures: facts.Captures,
			Count: 1, FirstSeen: now, LastSeen: now, Notified: now, Heard: now,
		}, true)
		return []Event{{Kind: Open, State: inc.snapshot()}}
	}
	st := &inc.st
	st.Count++
	st.Folded++
	st.LastSeen, st.Heard = now, now
	t.touch(inc)
	if r.Cooldown > 0 && now.Sub(st.Notified) >= time.Duration(r.Cooldown) {
		st.Notified = now
		ev := Event{Kind: Repeat, State: inc.snapshot()}
		st.Folded = 0
		t.change(inc) // a standing condition's count is stored when it is notified, not every evaluation
		return []Event{ev}
	}
	return nil
}

// States returns every open and pending incident, ordered by rule and key, for the
// state store.
func (t *Tracker) States() []State {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []State
	for _, inc := range t.sorted() {
		out = append(out, inc.snapshot())
	}
	return out
}

// Restore loads states saved by States, replacing any incident with the same rule and
// key. States of rules no longer loaded, and resolved ones, are dropped. A state with
// pending threshold hits and no notification stays pending; any other is open, so
// its next hit folds or repeats instead of opening again.
func (t *Tracker) Restore(states []State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ordered := slices.Clone(states)
	// Least recently hit first, so eviction order survives the restart.
	slices.SortStableFunc(ordered, func(a, b State) int { return a.LastSeen.Compare(b.LastSeen) })
	for _, st := range ordered {
		id := incidentID(st.Rule, st.Key)
		r := t.byID[st.Rule]
		if r == nil || st.Resolved {
			t.changed[id] = st.Key // dropped: the store forgets it with the next changes
			continue
		}
		st.Lines = slices.Clone(st.Lines)
		st.Pending = slices.Clone(st.Pending)
		open := len(st.Pending) == 0 || !st.Notified.IsZero()
		if open {
			st.Pending = nil
		}
		t.add(r, st, open)
		if st.Page != "" {
			t.pages[id] = pageRef{rule: st.PageRule, key: st.Page}
		}
		delete(t.changed, id) // as stored
	}
}

// change marks an incident's state as changed since the last Changes.
func (t *Tracker) change(inc *incident) {
	t.changed[incidentID(inc.rule.ID, inc.st.Key)] = inc.st.Key
}

// Changes returns, and clears, what changed since the last call: the states to store
// (opened, counted, folded into, pending counts moved) and the keys to forget
// (resolved, evicted, or restored for a rule no longer loaded), each ordered by key.
// The pipeline writes them with the cursors of the lines that caused them, so the
// store holds exactly the Tracker's incidents, written only when they change.
func (t *Tracker) Changes() (upsert []State, forget []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, key := range t.changed {
		if inc := t.incidents[id]; inc != nil {
			upsert = append(upsert, inc.snapshot())
		} else {
			forget = append(forget, key)
		}
	}
	clear(t.changed)
	slices.SortFunc(upsert, func(a, b State) int { return cmp.Compare(a.Key, b.Key) })
	slices.Sort(forget)
	return upsert, forget
}

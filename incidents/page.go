package incidents

import (
	"time"

	"github.com/cowbell-sidecar/cowbell/rules"
)

// One page per event. A PostgreSQL backend killed by the OOM killer is seen twice:
// the kernel logs the kill (kernel/oom-kill), PostgreSQL the death of its child
// (postgres/backend-sigkill). Both are critical, and a person woken twice for one
// event learns nothing from the second page. The incidents stay apart in the Tracker
// (each keeps its own lines, counts and lifecycle), but receivers hear of the one
// paged first, its page: the other is folded into it, and what receivers hear of it
// is an update of that page, under the page's key (the same PagerDuty dedup_key, Slack
// thread, Alertmanager alert and Zenduty entity), naming both lines.

// Page decides how receivers hear of ev, an event that Notify, given the incidents
// about the same process (PIDJoin.Lookup of its state). It returns the events to
// notify, none, one or two:
//
//   - An incident that owns its page is notified as it is.
//   - The Open of an incident related to another that owns a page, open or resolved
//     within the last ten minutes, folds it into that page for the rest of its
//     occurrence. Receivers hear an update of an open page (a Repeat of the page's
//     state); a page already resolved hears nothing: the event it was about is over
//     (PostgreSQL's log told the crash and the recovery before the kernel's line was
//     read).
//   - Later events of a folded incident update its page while the page is open, and
//     nothing once it resolved. Its resolve by a resolve line (evidence that the event
//     is over: PostgreSQL accepts connections again) resolves the page; a resolve by
//     the quiet period does not.
func (t *Tracker) Page(ev Event, related []Related) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := ev.State
	id := incidentID(st.Rule, st.Key)
	ref := pageRef{rule: st.PageRule, key: st.Page}
	if ref.key == "" {
		// Joined after this event was decided: an Open and the resolve line read in
		// the same batch.
		ref = t.pages[id]
	}
	if ref.key == "" && ev.Kind == Open {
		if page, ok := t.pageFor(st, related); ok {
			ref = page
			t.join(id, ref)
		}
	}
	if ref.key == "" {
		if ev.Kind == Resolve && !ev.Late {
			t.closed(id)
		}
		return []Event{ev}
	}
	if ev.Kind == Resolve {
		delete(t.pages, id)
	}
	page := t.incidents[incidentID(ref.rule, ref.key)]
	switch {
	case page == nil || !page.open:
		return nil // the page resolved: its event is over
	case ev.Kind != Resolve:
		return []Event{{Kind: Repeat, State: page.snapshot()}}
	case st.ResolvedBy != ResolvedByLine:
		return nil
	}
	t.closed(incidentID(page.st.Rule, page.st.Key))
	return t.resolve(page, nil, st.ResolvedAt, st.ResolvedBy, nil)
}

// pageFor returns the page among related an Open folds into: an incident that owns
// its page and is open and paged, or resolved within the last ten minutes.
func (t *Tracker) pageFor(st State, related []Related) (pageRef, bool) {
	now := t.now()
	for _, rel := range related {
		if rel.Key == st.Key && rel.Rule == st.Rule {
			continue
		}
		id := incidentID(rel.Rule, rel.Key)
		inc := t.incidents[id]
		if inc != nil && inc.open && !inc.st.Silent && !inc.st.Notified.IsZero() && inc.st.Page == "" {
			return pageRef{rule: rel.Rule, key: rel.Key}, true
		}
		if at, ok := t.recent[id]; ok && inc == nil && now.Sub(at) <= relatedWindow {
			return pageRef{rule: rel.Rule, key: rel.Key}, true
		}
	}
	return pageRef{}, false
}

// closed remembers that the page of incident id resolved now, so that a late line
// about the same process folds into it rather than paging anew.
func (t *Tracker) closed(id string) {
	now := t.now()
	if len(t.recent) >= maxPages {
		for k, at := range t.recent {
			if now.Sub(at) > relatedWindow {
				delete(t.recent, k)
			}
		}
	}
	t.recent[id] = now
}

// pageRef names an incident that owns a page.
type pageRef struct{ rule, key string }

// maxPages bounds the joins remembered for incidents no longer tracked.
const maxPages = 4096

// join folds the incident id into the page ref, in its state (stored) and in the
// Tracker's memory of joins (which outlives a resolve decided in the same batch).
func (t *Tracker) join(id string, ref pageRef) {
	if inc := t.incidents[id]; inc != nil {
		inc.st.Page, inc.st.PageRule = ref.key, ref.rule
		t.change(inc)
	}
	if len(t.pages) >= maxPages {
		for k := range t.pages {
			if t.incidents[k] == nil {
				delete(t.pages, k)
			}
		}
	}
	t.pages[id] = ref
}

// ResolveIf resolves r's open incidents for which holds returns true: a rule's
// resolve condition evaluated on a fresh snapshot (the setting a warning is about was
// fixed). It is evidence, like a probe clearing. Events come in key order.
func (t *Tracker) ResolveIf(r *rules.Rule, holds func(State) bool) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var events []Event
	for _, inc := range t.sorted() {
		if inc.rule != r || !inc.open || !holds(inc.st) {
			continue
		}
		events = t.resolve(inc, nil, now, ResolvedByProbe, events)
	}
	return events
}

// Lookup returns the state of the open incident of rule and key.
func (t *Tracker) Lookup(rule, key string) (State, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	inc := t.incidents[incidentID(rule, key)]
	if inc == nil || !inc.open {
		return State{}, false
	}
	return inc.snapshot(), true
}

// lateAfter is how long after its time a line must be read for an incident to say
// when cowbell read it (Incident.ReadAt): a backlog, not the ordinary delay of a
// log on its way.
const lateAfter = time.Minute

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
//   - The Open of an incident related to another whose page is open (the other was
//     paged, is open and owns its page) joins that page: the incident is folded into
//     it, and receivers hear an update of the page (a Repeat of the page's state).
//   - Later events of a folded incident update the page while it is open. Its
//     resolve by a resolve line (evidence that the event is over: PostgreSQL accepts
//     connections again) resolves the page; a resolve by the quiet period does not.
//   - A folded incident whose page has since resolved owns its page again.
func (t *Tracker) Page(ev Event, related []Related) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := ev.State
	if st.Page == "" && ev.Kind == Open {
		if page := t.pageFor(st, related); page != nil {
			if inc := t.incidents[incidentID(st.Rule, st.Key)]; inc != nil {
				inc.st.Page, inc.st.PageRule = page.st.Key, page.st.Rule
				t.change(inc)
			}
			return []Event{{Kind: Repeat, State: page.snapshot()}}
		}
	}
	if st.Page == "" {
		return []Event{ev}
	}
	page := t.incidents[incidentID(st.PageRule, st.Page)]
	if page == nil || !page.open || page.st.Silent {
		if inc := t.incidents[incidentID(st.Rule, st.Key)]; inc != nil {
			inc.st.Page, inc.st.PageRule = "", ""
			t.change(inc)
		}
		if ev.Kind == Resolve {
			return nil // the page resolved before it: nothing is open to resolve
		}
		ev.Kind = Open
		ev.State.Page, ev.State.PageRule = "", ""
		return []Event{ev}
	}
	if ev.Kind != Resolve {
		return []Event{{Kind: Repeat, State: page.snapshot()}}
	}
	if st.ResolvedBy != ResolvedByLine {
		return nil
	}
	return t.resolve(page, nil, st.ResolvedAt, st.ResolvedBy, nil)
}

// pageFor returns the open, paged incident among related that owns its page.
func (t *Tracker) pageFor(st State, related []Related) *incident {
	for _, rel := range related {
		if rel.Key == st.Key && rel.Rule == st.Rule {
			continue
		}
		inc := t.incidents[incidentID(rel.Rule, rel.Key)]
		if inc != nil && inc.open && !inc.st.Silent && !inc.st.Notified.IsZero() && inc.st.Page == "" {
			return inc
		}
	}
	return nil
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

package incidents

import (
	"strings"
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Joining incidents by process: the kernel logs "Killed process 4242 (postgres)" to
// the journal while PostgreSQL logs "server process (PID 4242) was terminated by
// signal 9" to its own file. Each incident names the other, so the page about the
// crash restart says it was the OOM killer, and which memory cgroup it acted for.
// Pids are compared as logged: this works where both logs see the host's pids (a
// service on the host, or a sidecar sharing the host PID namespace).

// relatedWindow is how far apart in event time two lines about one pid may be.
const relatedWindow = 10 * time.Minute

// relatedMax bounds the lines remembered.
const relatedMax = 1024

type pidLine struct {
	rule, key, pid, task, line string
	at                         time.Time
	captures                   map[string]string
}

// PIDJoin remembers the newest line of recent incidents that carry a pid capture, so
// an incident can name the others about its process. The zero value is ready to use;
// it is not safe for concurrent use (the pipeline's loop owns it).
type PIDJoin struct {
	lines []pidLine // oldest first
}

// Note records the newest line of each event a match hit made (a follow or resolve
// line says nothing about the process).
func (r *PIDJoin) Note(events []Event) {
	for _, ev := range events {
		st := ev.State
		pid := ev.HitPID
		if !ev.Hit || pid == "" || len(st.Lines) == 0 {
			continue
		}
		last := st.Lines[len(st.Lines)-1]
		task := st.Captures[rules.CaptureTask]
		if task == "" {
			task = st.Captures[rules.CaptureProcess]
		}
		r.lines = append(r.lines, pidLine{rule: st.Rule, key: st.Key, pid: pid, task: task, line: last.Text, at: last.Time, captures: st.Captures})
	}
	if over := len(r.lines) - relatedMax; over > 0 {
		r.lines = append(r.lines[:0], r.lines[over:]...)
	}
}

// Lookup returns the lines of other rules about st's pid, near st in time, one per
// rule (the newest), oldest first.
func (r *PIDJoin) Lookup(st State) []Related {
	pid := st.Captures[rules.CapturePID]
	if pid == "" {
		return nil
	}
	at := st.LastSeen
	newest := map[string]int{}
	var out []Related
	for _, l := range r.lines {
		if l.pid != pid || l.rule == st.Rule || absDuration(l.at.Sub(at)) > relatedWindow {
			continue
		}
		rel := Related{Rule: l.rule, Key: l.key, PID: l.pid, Task: l.task, Time: l.at, Line: l.line, Captures: l.captures}
		if i, ok := newest[l.rule]; ok {
			out[i] = rel
			continue
		}
		newest[l.rule] = len(out)
		out = append(out, rel)
	}
	return out
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Causes fills in the cause of each related line whose rule says what it means for
// another incident (rules.Rule.Cause, rendered on that incident's captures). rule
// finds a loaded rule by id (nil if none).
func Causes(rel []Related, rule func(id string) *rules.Rule) []Related {
	for i := range rel {
		r := rule(rel[i].Rule)
		if r == nil || r.Cause == nil {
			continue
		}
		if c, err := r.Cause.Execute(facts.Env{Captures: rel[i].Captures}); err == nil {
			rel[i].Cause = strings.TrimSpace(c)
		}
	}
	return rel
}

// SetRelated sets the incident's related lines and says the cause they name in its
// summary.
func (inc *Incident) SetRelated(rel []Related) {
	inc.Related = rel
	inc.Summary = inc.Headline()
}

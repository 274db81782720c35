package pipeline

import (
	"time"

	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/notifiers"
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
}

// related remembers the newest line of recent incidents that carry a pid capture.
type related struct {
	lines []pidLine // oldest first
}

// note records the events' newest lines.
func (r *related) note(events []matcher.Event) {
	for _, ev := range events {
		st := ev.State
		pid := st.Captures["pid"]
		if pid == "" || len(st.Lines) == 0 {
			continue
		}
		last := st.Lines[len(st.Lines)-1]
		task := st.Captures["task"]
		if task == "" {
			task = st.Captures["process"]
		}
		r.lines = append(r.lines, pidLine{rule: st.Rule, key: st.Key, pid: pid, task: task, line: last.Text, at: last.Time})
	}
	if over := len(r.lines) - relatedMax; over > 0 {
		r.lines = append(r.lines[:0], r.lines[over:]...)
	}
}

// lookup returns the lines of other rules about st's pid, near st in time, one per
// rule (the newest), oldest first.
func (r *related) lookup(st matcher.State) []notifiers.Related {
	pid := st.Captures["pid"]
	if pid == "" {
		return nil
	}
	at := st.LastSeen
	newest := map[string]int{}
	var out []notifiers.Related
	for _, l := range r.lines {
		if l.pid != pid || l.rule == st.Rule || absDuration(l.at.Sub(at)) > relatedWindow {
			continue
		}
		rel := notifiers.Related{Rule: l.rule, Key: l.key, PID: l.pid, Task: l.task, Time: l.at, Line: l.line}
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

package incidents

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// ev is the part of an event a table checks.
type ev struct {
	Kind          EventKind
	Key           string
	Count, Folded int
}

func evs(events []Event) []ev {
	var out []ev
	for _, e := range events {
		out = append(out, ev{e.Kind, e.State.Key, e.State.Count, e.State.Folded})
	}
	return out
}

// step is one line (at event time t0+at) or, with tick, one Tick at clock t0+at.
type step struct {
	at     time.Duration
	text   string
	source string
	tick   bool
	want   []ev
}

// clock is a settable clock for the Tracker.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func runSteps(t *testing.T, rs []*rules.Rule, steps []step) *Tracker {
	t.Helper()
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, rs...), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
	for i, s := range steps {
		c.t = t0.Add(s.at)
		var got []Event
		if s.tick {
			got = tr.Tick()
		} else {
			l := line(s.text)
			l.Time = c.t
			if s.source != "" {
				l.Source = s.source
			}
			got = tr.Observe(l)
		}
		require.Equal(t, s.want, evs(got), "step %d (%s %q)", i, s.at, s.text)
	}
	return tr
}

func TestTracker(t *testing.T) {
	const oom = "Out of memory: Killed process 42 (redis-server)"
	const key = "kernel/oom@db-1"
	base := func(mod func(r *rules.Rule)) []*rules.Rule {
		r := anyRule("kernel/oom", `Killed process (?P<pid>\d+) \((?P<comm>[^)]+)\)`)
		mod(r)
		return []*rules.Rule{r}
	}
	tests := []struct {
		name  string
		rules []*rules.Rule
		steps []step
	}{
		{name: "no cooldown repeats every hit", rules: base(func(*rules.Rule) {}), steps: []step{
			{at: 0, text: oom, want: []ev{{Open, key, 1, 0}}},
			{at: time.Second, text: oom, want: []ev{{Repeat, key, 2, 1}}},
			{at: 2 * time.Second, text: "unrelated"},
			{at: 3 * time.Second, text: oom, want: []ev{{Repeat, key, 3, 1}}},
		}},
		{name: "cooldown folds and counts", rules: base(func(r *rules.Rule) { r.Cooldown = dur(10 * time.Minute) }), steps: []step{
			{at: 0, text: oom, want: []ev{{Open, key, 1, 0}}},
			{at: time.Minute, text: oom, want: []ev{{Fold, key, 2, 1}}},
			{at: 2 * time.Minute, text: oom, want: []ev{{Fold, key, 3, 2}}},
			{at: 10 * time.Minute, text: oom, want: []ev{{Repeat, key, 4, 3}}},
			{at: 11 * time.Minute, text: oom, want: []ev{{Fold, key, 5, 1}}},
			{at: 20 * time.Minute, text: oom, want: []ev{{Repeat, key, 6, 2}}},
		}},
		{name: "threshold within window", rules: base(func(r *rules.Rule) {
			r.Threshold = &rules.Threshold{Count: 3, Within: dur(5 * time.Minute)}
		}), steps: []step{
			{at: 0, text: oom},
			{at: time.Minute, text: oom},
			{at: 7 * time.Minute, text: oom}, // the first two fell out of the window
			{at: 8 * time.Minute, text: oom},
			{at: 9 * time.Minute, text: oom, want: []ev{{Open, key, 3, 0}}},
			{at: 10 * time.Minute, text: oom, want: []ev{{Repeat, key, 4, 1}}},
		}},
		{name: "group_within gap opens a new occurrence", rules: base(func(r *rules.Rule) {
			r.GroupWithin = dur(10 * time.Minute)
			r.Cooldown = dur(time.Hour)
		}), steps: []step{
			{at: 0, text: oom, want: []ev{{Open, key, 1, 0}}},
			{at: 9 * time.Minute, text: oom, want: []ev{{Fold, key, 2, 1}}},
			{at: 19 * time.Minute, text: oom, want: []ev{{Fold, key, 3, 2}}},
			{at: 30 * time.Minute, text: oom, want: []ev{{Open, key, 1, 0}}},
		}},
		{name: "key template separates incidents", rules: base(func(r *rules.Rule) {
			r.Key = keyTemplate(t, "{{.Rule}}/{{.Host}}/{{.Source}}/{{.Captures.comm}}")
			r.Cooldown = dur(time.Hour)
		}), steps: []step{
			{at: 0, text: oom, want: []ev{{Open, "kernel/oom/db-1/redis/redis-server", 1, 0}}},
			{at: 1, text: "Killed process 7 (postgres)", want: []ev{{Open, "kernel/oom/db-1/redis/postgres", 1, 0}}},
			{at: 2, text: "Killed process 8 (postgres)", want: []ev{{Fold, "kernel/oom/db-1/redis/postgres", 2, 1}}},
			{at: 3, text: oom, source: "kernel", want: []ev{{Open, "kernel/oom/db-1/kernel/redis-server", 1, 0}}},
		}},
		{name: "selectors apply", rules: base(func(r *rules.Rule) { r.Sources = []string{"kernel"} }), steps: []step{
			{at: 0, text: oom},
			{at: 1, text: oom, source: "kernel", want: []ev{{Open, key, 1, 0}}},
		}},
		{name: "resolve_after via tick", rules: base(func(r *rules.Rule) {
			r.ResolveAfter = dur(time.Hour)
			r.Cooldown = dur(time.Hour)
		}), steps: []step{
			{at: 0, text: oom, want: []ev{{Open, key, 1, 0}}},
			{at: 30 * time.Minute, tick: true},
			{at: 40 * time.Minute, text: oom, want: []ev{{Fold, key, 2, 1}}},
			{at: 90 * time.Minute, tick: true},
			{at: 100 * time.Minute, tick: true, want: []ev{{Resolve, key, 2, 1}}},
			{at: 101 * time.Minute, tick: true},
			{at: 102 * time.Minute, text: oom, want: []ev{{Open, key, 1, 0}}},
		}},
		{name: "tick drops expired pending hits", rules: base(func(r *rules.Rule) {
			r.Threshold = &rules.Threshold{Count: 2, Within: dur(5 * time.Minute)}
		}), steps: []step{
			{at: 0, text: oom},
			{at: 6 * time.Minute, tick: true},
			{at: 7 * time.Minute, text: oom},
			{at: 8 * time.Minute, text: oom, want: []ev{{Open, key, 2, 0}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.rules, tt.steps)
		})
	}
}

func TestTrackerFollowResolve(t *testing.T) {
	pg := func() []*rules.Rule {
		return []*rules.Rule{{
			ID:       "pg/backend-killed",
			Match:    &rules.Match{Any: pats(`server process \(PID (?P<pid>\d+)\) was terminated by signal 9`)},
			Follow:   pats(`terminating any other active server processes`, `PID (?P<pid>\d+) .*exited`),
			Resolve:  pats(`database system is ready to accept connections`, `PID (?P<pid>\d+) recovered`),
			Key:      keyTemplate(t, "{{.Rule}}@{{.Host}}/{{.Captures.pid}}"),
			Cooldown: dur(time.Hour),
		}}
	}
	k1, k2 := "pg/backend-killed@db-1/1", "pg/backend-killed@db-1/2"
	killed := func(pid int) string {
		return fmt.Sprintf("server process (PID %d) was terminated by signal 9: Killed", pid)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "follow never opens", steps: []step{
			{at: 0, text: "LOG: terminating any other active server processes"},
			{at: 1, text: killed(1), want: []ev{{Open, k1, 1, 0}}},
		}},
		{name: "follow folds into the latest open incident of the source", steps: []step{
			{at: 0, text: killed(1), want: []ev{{Open, k1, 1, 0}}},
			{at: 1, text: killed(2), want: []ev{{Open, k2, 1, 0}}},
			{at: 2, text: "LOG: terminating any other active server processes", want: []ev{{Fold, k2, 1, 0}}},
			{at: 3, text: "PID 1 has exited", want: []ev{{Fold, k1, 1, 0}}},
			{at: 4, text: "LOG: terminating any other active server processes", source: "postgres-2"},
		}},
		{name: "resolve by key", steps: []step{
			{at: 0, text: killed(1), want: []ev{{Open, k1, 1, 0}}},
			{at: 1, text: killed(2), want: []ev{{Open, k2, 1, 0}}},
			{at: 2, text: "PID 2 recovered", want: []ev{{Resolve, k2, 1, 0}}},
			{at: 3, text: killed(1), want: []ev{{Fold, k1, 2, 1}}},
			{at: 4, text: killed(2), want: []ev{{Open, k2, 1, 0}}},
		}},
		{name: "resolve without key closes the source's incidents", steps: []step{
			{at: 0, text: killed(1), want: []ev{{Open, k1, 1, 0}}},
			{at: 1, text: killed(2), want: []ev{{Open, k2, 1, 0}}},
			{at: 2, text: "LOG: database system is ready to accept connections", source: "other"},
			{at: 3, text: "LOG: database system is ready to accept connections",
				want: []ev{{Resolve, k1, 1, 0}, {Resolve, k2, 1, 0}}},
			{at: 4, text: "LOG: database system is ready to accept connections"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, pg(), tt.steps)
		})
	}
}

func TestTrackerStateDetails(t *testing.T) {
	c := &clock{t: t0.Add(time.Hour)}
	r := anyRule("kernel/oom", `Killed process (?P<pid>\d+)`)
	r.Cooldown = dur(time.Hour)
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now)
	l := sources.Line{Source: "kernel", Stream: "journal", Text: "Killed process 9",
		Labels: map[string]string{"unit": "kernel"}}
	open := tr.Observe(l) // no time on the line: the clock's
	require.Len(t, open, 1)
	st := open[0].State
	require.Equal(t, c.t, st.FirstSeen)
	require.Equal(t, c.t, st.Notified)
	require.Equal(t, map[string]string{"pid": "9"}, st.Captures)
	require.Equal(t, l.Labels, st.Labels)
	require.Equal(t, []LineRef{{Time: c.t, Text: l.Text, Stream: "journal"}}, st.Lines)

	var last []Event
	for i := range MaxLines + 5 {
		l.Text = fmt.Sprintf("Killed process %d", i)
		l.Time = t0.Add(time.Hour + time.Duration(i+1)*time.Second)
		last = tr.Observe(l)
	}
	st = last[0].State
	require.Len(t, st.Lines, MaxLines)
	require.Equal(t, l.Text, st.Lines[MaxLines-1].Text)
	require.Equal(t, l.Time, st.LastSeen)
	require.Equal(t, c.t, st.FirstSeen)
	require.Equal(t, map[string]string{"pid": "9"}, st.Captures, "captures of the opening hit")
}

func TestTrackerEvictsOldestKey(t *testing.T) {
	r := anyRule("kernel/oom", `Killed process (?P<pid>\d+)`)
	r.Key = keyTemplate(t, "{{.Captures.pid}}")
	tr := NewTracker(newMatcher(t, r), Identity{}, func() time.Time { return t0 })
	for i := range MaxKeysPerRule + 1 {
		l := line(fmt.Sprintf("Killed process %d", i))
		l.Time = t0.Add(time.Duration(i) * time.Millisecond)
		require.Len(t, tr.Observe(l), 1)
	}
	states := tr.States()
	require.Len(t, states, MaxKeysPerRule)
	for _, s := range states {
		require.NotEqual(t, "0", s.Key, "the least recently hit key goes first")
	}
}

// TestObserveMissNoAllocs holds the hot path to its promise through the tracker too:
// a line that fires nothing of the built-in pack allocates nothing.
func TestObserveMissNoAllocs(t *testing.T) {
	rs, err := rules.Load(rules.LoadOptions{Builtin: true})
	require.NoError(t, err)
	tr := NewTracker(newMatcher(t, rs...), Identity{Host: "h"}, func() time.Time { return t0 })
	for _, text := range []string{
		"1:M 01 Jan 2024 00:00:00.000 * Background saving started by pid 42",
		"2024-01-01 00:00:00.000 UTC [77] LOG:  checkpoint starting: time",
		"",
	} {
		l := line(text)
		require.Empty(t, tr.Observe(l))
		require.Zero(t, testing.AllocsPerRun(100, func() { _ = tr.Observe(l) }), "%q", text)
	}
}

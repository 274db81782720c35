package incidents

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// notified keeps the events receivers hear of.
func notified(events []Event) []ev {
	var out []Event
	for _, e := range events {
		if e.Notify() {
			out = append(out, e)
		}
	}
	return evs(out)
}

// forkRule is a fork failure that resolves after a quiet period or on a save.
func forkRule(quiet time.Duration) *rules.Rule {
	r := anyRule("redis/fork", `fork: Cannot allocate memory`)
	r.Resolve = pats(`Background saving terminated with success`)
	r.ResolveAfter = dur(quiet)
	r.Cooldown = dur(time.Hour)
	return r
}

// A line read from a backlog is an event of its own time: a week-old one is recorded,
// not paged, and nothing resolves it the instant after; a later timely hit of the same
// incident pages.
func TestBacklogWeekOldIsRecordedNotPaged(t *testing.T) {
	wall := t0.Add(7 * 24 * time.Hour)
	c := &clock{t: wall}
	tr := NewTracker(newMatcher(t, forkRule(30*time.Minute)), Identity{Host: "db-1"}, c.now).Configure(Config{MaxAge: time.Hour})
	const key = "redis/fork@db-1"

	l := line("fork: Cannot allocate memory")
	l.Time = wall.Add(-7 * 24 * time.Hour)
	got := tr.Observe(l)
	require.Equal(t, []ev{{Open, key, 1, 0}}, evs(got), "recorded")
	require.Empty(t, notified(got), "a week-old line pages nobody")
	require.True(t, got[0].Late)

	c.t = wall.Add(50 * time.Millisecond)
	require.Empty(t, tr.Tick(), "no resolve the instant after: the quiet period counts from the read")

	// A timely hit of the same incident pages, as an Open: nobody heard of it yet.
	c.t = wall.Add(time.Minute)
	l.Time = c.t
	require.Equal(t, []ev{{Open, key, 2, 1}}, notified(tr.Observe(l)), "the week-old hit is counted in")

	// The quiet period then resolves it, counted from that hit.
	c.t = wall.Add(time.Minute + 30*time.Minute)
	res := tr.Tick()
	require.Equal(t, []ev{{Resolve, key, 2, 0}}, notified(res))
	require.Equal(t, c.t, res[0].State.ResolvedAt)
	require.Equal(t, ResolvedByQuiet, res[0].State.ResolvedBy)
}

// A line from 5 minutes ago pages, saying when it happened, and its quiet period
// counts from when cowbell read it, not from the line's own time.
func TestBacklogRecentPagesAndWaitsItsQuietPeriod(t *testing.T) {
	wall := t0
	c := &clock{t: wall}
	r := forkRule(2 * time.Minute)
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now).Configure(DefaultConfig)
	l := line("fork: Cannot allocate memory")
	l.Time = wall.Add(-5 * time.Minute)
	got := tr.Observe(l)
	require.Equal(t, []ev{{Open, "redis/fork@db-1", 1, 0}}, notified(got))

	inc := Build(r, got[0], "db-1")
	require.NotNil(t, inc.ReadAt, "the page says it was read late")
	require.Equal(t, wall, *inc.ReadAt)
	require.Contains(t, inc.Summary, "read 5 min later")

	c.t = wall.Add(50 * time.Millisecond)
	require.Empty(t, tr.Tick(), "the line's own time is 5 min old; the read was just now")
	c.t = wall.Add(time.Minute)
	require.Empty(t, tr.Tick())
	c.t = wall.Add(2 * time.Minute)
	res := tr.Tick()
	require.Len(t, res, 1)
	require.Equal(t, Resolve, res[0].Kind)
	require.Equal(t, wall.Add(2*time.Minute), *Build(r, res[0], "db-1").ResolvedAt)
}

// A restart does not count the time cowbell was down as quiet: an incident restored
// open waits a whole quiet period from the start.
func TestRestoredQuietPeriodCountsFromStart(t *testing.T) {
	r := forkRule(30 * time.Minute)
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now)
	l := line("fork: Cannot allocate memory")
	l.Time = t0
	require.Len(t, tr.Observe(l), 1)
	states := tr.States()

	c.t = t0.Add(3 * time.Hour) // down for three hours
	tr = NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now)
	tr.Restore(states)
	require.Empty(t, tr.Tick())
	c.t = t0.Add(3*time.Hour + 30*time.Minute)
	require.Len(t, tr.Tick(), 1)
}

// resolved_at is when the resolving line says recovery happened, not the last failure.
func TestResolvedAtIsTheResolvingLine(t *testing.T) {
	r := forkRule(0)
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now)
	fail := line("fork: Cannot allocate memory")
	fail.Time = t0
	tr.Observe(fail)
	ok := line("1:M Background saving terminated with success")
	ok.Time = t0.Add(10 * time.Minute)
	c.t = ok.Time
	got := tr.Observe(ok)
	require.Len(t, got, 1)
	inc := Build(r, got[0], "db-1")
	require.Equal(t, StatusResolved, inc.Status)
	require.Equal(t, ok.Time, *inc.ResolvedAt)
	require.Equal(t, ResolvedByLine, got[0].State.ResolvedBy)
}

// A silent incident's resolve is not notified: nobody was paged for it.
func TestSilentResolveIsLate(t *testing.T) {
	r := forkRule(0)
	c := &clock{t: t0.Add(48 * time.Hour)}
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, c.now).Configure(DefaultConfig)
	fail := line("fork: Cannot allocate memory")
	ok := line("Background saving terminated with success")
	ok.Time = t0.Add(time.Minute)
	require.Empty(t, notified(tr.Observe(fail)))
	got := tr.Observe(ok)
	require.Equal(t, []ev{{Resolve, "redis/fork@db-1", 1, 0}}, evs(got))
	require.Empty(t, notified(got))
}

func TestResolveIf(t *testing.T) {
	r := anyRule("redis/overcommit-warning", `WARNING overcommit_memory is set to 0`)
	r.Key = keyTemplate(t, "{{.Rule}}@{{.Host}}/{{.Source}}")
	other := anyRule("redis/thp-warning", `WARNING you have Transparent Huge Pages`)
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, r, other), Identity{Host: "db-1"}, c.now)
	for _, src := range []string{"redis-a", "redis-b"} {
		l := line("WARNING overcommit_memory is set to 0! Background save may fail")
		l.Source = src
		tr.Observe(l)
	}
	tr.Observe(line("WARNING you have Transparent Huge Pages (THP) support enabled"))
	c.t = t0.Add(time.Minute)
	got := tr.ResolveIf(r, func(st State) bool { return st.Source == "redis-b" })
	require.Equal(t, []ev{{Resolve, "redis/overcommit-warning@db-1/redis-b", 1, 0}}, notified(got))
	require.Equal(t, c.t, got[0].State.ResolvedAt)
	require.Equal(t, ResolvedByProbe, got[0].State.ResolvedBy)
	require.Len(t, tr.States(), 2, "the other key and the other rule stay open")
}

// oomRules are the kernel's OOM kill and PostgreSQL's report of the killed backend.
func oomRules(t *testing.T) (kernel, pg *rules.Rule) {
	kernel = anyRule("kernel/oom-kill", `Killed process (?P<pid>\d+) \((?P<task>[^)]*)\)`)
	kernel.Key = keyTemplate(t, "{{.Rule}}@{{.Node}}/{{.Captures.pid}}")
	kernel.Cooldown = dur(15 * time.Minute)
	kernel.ResolveAfter = dur(30 * time.Minute)
	pg = anyRule("postgres/backend-sigkill", `(?P<process>[a-z ]+) \(PID (?P<pid>\d+)\) was terminated by signal 9`)
	pg.Resolve = pats(`database system is ready to accept connections`)
	pg.Key = keyTemplate(t, "{{.Rule}}@{{.Host}}/{{.Source}}")
	pg.Cooldown = dur(15 * time.Minute)
	return kernel, pg
}

// page runs events through Page as the pipeline does, with the pid join.
func page(tr *Tracker, join *PIDJoin, events []Event) []Event {
	join.Note(events)
	var out []Event
	for _, e := range events {
		if e.Notify() {
			out = append(out, tr.Page(e, join.Lookup(e.State))...)
		}
	}
	return out
}

// One event seen by two rules is one page: whichever line comes first pages, the
// other updates that page; PostgreSQL's recovery resolves it.
func TestOnePagePerEvent(t *testing.T) {
	kill := sources.Line{Source: "kernel", Text: "Out of memory: Killed process 4321 (postgres) total-vm:4513780kB, anon-rss:3145728kB"}
	died := sources.Line{Source: "postgres", Text: "LOG:  server process (PID 4321) was terminated by signal 9: Killed"}
	ready := sources.Line{Source: "postgres", Text: "LOG:  database system is ready to accept connections"}
	const kkey, pkey = "kernel/oom-kill@m1/b1/4321", "postgres/backend-sigkill@db-1/postgres"
	tests := []struct {
		name  string
		first sources.Line
		page  string // the key every notification carries
	}{
		{"kernel first", kill, kkey},
		{"postgres first", died, pkey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kernel, pg := oomRules(t)
			c := &clock{t: t0}
			tr := NewTracker(newMatcher(t, kernel, pg), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
			var join PIDJoin
			var sent []Event
			for i, l := range []sources.Line{tt.first, kill, died, ready} {
				if i > 0 && l.Text == tt.first.Text {
					continue
				}
				c.t = t0.Add(time.Duration(i) * time.Second)
				l.Time = c.t
				sent = append(sent, page(tr, &join, tr.Observe(l))...)
			}
			require.NotEmpty(t, sent)
			var kinds []EventKind
			for _, e := range sent {
				require.Equal(t, tt.page, e.State.Key, "every notification is about one page")
				kinds = append(kinds, e.Kind)
			}
			require.Equal(t, []EventKind{Open, Repeat, Resolve}, kinds, "a page, its update, its resolve")
		})
	}
}

// A folded incident stays folded for its occurrence: once its page resolved (the
// kernel's quiet period), a later hit of it is recorded, not paged; a new occurrence
// (after a gap) pages on its own.
func TestFoldedIncidentStaysFolded(t *testing.T) {
	kernel, pg := oomRules(t)
	pg.GroupWithin = dur(10 * time.Minute)
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, kernel, pg), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
	var join PIDJoin
	kill := sources.Line{Source: "kernel", Time: t0, Text: "Out of memory: Killed process 4321 (postgres)"}
	page(tr, &join, tr.Observe(kill))
	died := sources.Line{Source: "postgres", Time: t0, Text: "server process (PID 4321) was terminated by signal 9"}
	require.Equal(t, "kernel/oom-kill@m1/b1/4321", page(tr, &join, tr.Observe(died))[0].State.Key)

	c.t = t0.Add(9 * time.Minute)
	died.Time = c.t
	require.Empty(t, page(tr, &join, tr.Tick()))
	c.t = t0.Add(31 * time.Minute)
	res := page(tr, &join, tr.Tick())
	require.Len(t, res, 1, "the kernel's quiet period resolves the page")
	require.Equal(t, "kernel/oom-kill@m1/b1/4321", res[0].State.Key)

	died.Time = t0.Add(32 * time.Minute) // a gap past group_within: a new occurrence
	died.Text = "server process (PID 777) was terminated by signal 9"
	again := page(tr, &join, tr.Observe(died))
	require.Equal(t, []ev{{Open, "postgres/backend-sigkill@db-1/postgres", 1, 0}}, evs(again))
}

// A line about a process whose page already resolved (PostgreSQL told the crash and
// the recovery before the kernel's line was read) pages nobody: its event is over.
func TestLateRelatedLineAfterThePageResolved(t *testing.T) {
	kernel, pg := oomRules(t)
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, kernel, pg), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
	var join PIDJoin
	for _, text := range []string{"server process (PID 4321) was terminated by signal 9", "database system is ready to accept connections"} {
		require.Len(t, page(tr, &join, tr.Observe(sources.Line{Source: "postgres", Time: t0, Text: text})), 1)
	}
	c.t = t0.Add(time.Second)
	kill := sources.Line{Source: "kernel", Time: t0, Text: "Out of memory: Killed process 4321 (postgres)"}
	require.Empty(t, page(tr, &join, tr.Observe(kill)))
	c.t = t0.Add(31 * time.Minute)
	require.Empty(t, page(tr, &join, tr.Tick()), "nor its quiet resolve")
}

// A restart keeps which page a folded incident belongs to: its resolve line after the
// restart still resolves the page, and it pages nothing of its own.
func TestFoldedIncidentSurvivesRestart(t *testing.T) {
	kernel, pg := oomRules(t)
	c := &clock{t: t0}
	newTracker := func() *Tracker {
		return NewTracker(newMatcher(t, kernel, pg), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
	}
	tr := newTracker()
	var join PIDJoin
	page(tr, &join, tr.Observe(sources.Line{Source: "kernel", Time: t0, Text: "Out of memory: Killed process 4321 (postgres)"}))
	page(tr, &join, tr.Observe(sources.Line{Source: "postgres", Time: t0, Text: "server process (PID 4321) was terminated by signal 9"}))
	states := tr.States()

	tr, join = newTracker(), PIDJoin{}
	tr.Restore(states)
	c.t = t0.Add(time.Minute)
	got := page(tr, &join, tr.Observe(sources.Line{Source: "postgres", Time: c.t, Text: "database system is ready to accept connections"}))
	require.Equal(t, []ev{{Resolve, "kernel/oom-kill@m1/b1/4321", 1, 0}}, evs(got))
}

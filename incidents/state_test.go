package incidents

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
)

func TestProbe(t *testing.T) {
	probe := func(cooldown time.Duration) *rules.Rule {
		return &rules.Rule{ID: "host/commit-near-limit", Cooldown: dur(cooldown), Probe: &rules.Probe{}}
	}
	const key = "host/commit-near-limit@m1/b1"
	type call struct {
		at     time.Duration
		firing bool
		want   []ev
	}
	tests := []struct {
		name  string
		rule  *rules.Rule
		calls []call
	}{
		{name: "open, repeat per cooldown, resolve", rule: probe(10 * time.Minute), calls: []call{
			{at: 0, firing: false},
			{at: time.Minute, firing: true, want: []ev{{Open, key, 1, 0}}},
			{at: 2 * time.Minute, firing: true},
			{at: 5 * time.Minute, firing: true},
			{at: 11 * time.Minute, firing: true, want: []ev{{Repeat, key, 4, 3}}},
			{at: 12 * time.Minute, firing: true},
			{at: 13 * time.Minute, firing: false, want: []ev{{Resolve, key, 5, 1}}},
			{at: 14 * time.Minute, firing: false},
			{at: 15 * time.Minute, firing: true, want: []ev{{Open, key, 1, 0}}},
		}},
		{name: "no cooldown: no repeats", rule: probe(0), calls: []call{
			{at: 0, firing: true, want: []ev{{Open, key, 1, 0}}},
			{at: time.Hour, firing: true},
			{at: 2 * time.Hour, firing: false, want: []ev{{Resolve, key, 2, 1}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{}
			tr := NewTracker(newMatcher(t, tt.rule), Identity{Host: "db-1", Node: "m1/b1"}, c.now)
			for i, cl := range tt.calls {
				c.t = t0.Add(cl.at)
				got := tr.Probe(tt.rule, cl.firing, rules.KeyData{})
				require.Equal(t, cl.want, evs(got), "call %d", i)
			}
		})
	}
}

func TestProbeKeyTemplate(t *testing.T) {
	r := &rules.Rule{ID: "host/thp", Probe: &rules.Probe{}, Key: keyTemplate(t, "{{.Rule}}/{{.Host}}/{{.Labels.pool}}")}
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db-1"}, func() time.Time { return t0 })
	got := tr.Probe(r, true, rules.KeyData{Labels: map[string]string{"pool": "cache"}})
	require.Equal(t, []ev{{Open, "host/thp/db-1/cache", 1, 0}}, evs(got))
	require.Equal(t, map[string]string{"pool": "cache"}, got[0].State.Labels)
}

// TestRestore saves the Tracker's states through JSON, as the state store does, and
// checks that a new Tracker carries on without paging again.
func TestRestore(t *testing.T) {
	oom := anyRule("kernel/oom", `Killed process (?P<pid>\d+)`)
	oom.Cooldown = dur(time.Hour)
	oom.Key = keyTemplate(t, "{{.Rule}}/{{.Captures.pid}}")
	slow := anyRule("redis/fork-slow", `fork took (?P<ms>\d+) ms`)
	slow.Threshold = &rules.Threshold{Count: 2, Within: dur(10 * time.Minute)}
	probe := &rules.Rule{ID: "host/commit", Probe: &rules.Probe{}, Cooldown: dur(time.Hour)}
	gone := anyRule("old/rule", "old")
	rs := []*rules.Rule{oom, slow, probe, gone}

	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, rs...), Identity{Host: "db-1", Node: "n"}, c.now)
	at := func(d time.Duration, text string) []ev {
		l := line(text)
		l.Time = t0.Add(d)
		return evs(tr.Observe(l))
	}
	require.Equal(t, []ev{{Open, "kernel/oom/7", 1, 0}}, at(0, "Killed process 7"))
	require.Equal(t, []ev{{Open, "kernel/oom/3", 1, 0}}, at(time.Second, "Killed process 3"))
	require.Equal(t, []ev{{Fold, "kernel/oom/7", 2, 1}}, at(2*time.Second, "Killed process 7"))
	require.Empty(t, at(3*time.Second, "fork took 900 ms"))
	require.Len(t, at(4*time.Second, "old"), 1)
	require.Len(t, tr.Probe(probe, true, rules.KeyData{}), 1)

	states := tr.States()
	require.Equal(t, []string{"host/commit@n", "kernel/oom/3", "kernel/oom/7", "old/rule@db-1", "redis/fork-slow@db-1"},
		keys(states), "ordered by rule and key")
	require.Equal(t, states, tr.States(), "deterministic")
	raw, err := json.Marshal(states)
	require.NoError(t, err)
	var loaded []State
	require.NoError(t, json.Unmarshal(raw, &loaded))

	// A restart without old/rule.
	tr = NewTracker(newMatcher(t, oom, slow, probe), Identity{Host: "db-1", Node: "n"}, c.now)
	tr.Restore(loaded)
	require.Equal(t, []string{"host/commit@n", "kernel/oom/3", "kernel/oom/7", "redis/fork-slow@db-1"}, keys(tr.States()))
	require.Equal(t, []ev{{Fold, "kernel/oom/7", 3, 2}}, at(5*time.Second, "Killed process 7"))
	require.Equal(t, []ev{{Repeat, "kernel/oom/3", 2, 1}}, at(time.Hour+time.Second, "Killed process 3"))
	require.Equal(t, []ev{{Open, "redis/fork-slow@db-1", 2, 0}}, at(time.Minute, "fork took 800 ms"), "pending hit kept")
	require.Empty(t, tr.Probe(probe, true, rules.KeyData{}), "probe still open, inside cooldown")
}

func TestTickDropsPending(t *testing.T) {
	r := anyRule("redis/fork-slow", `fork took \d+ ms`)
	r.Threshold = &rules.Threshold{Count: 2, Within: dur(10 * time.Minute)}
	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, r), Identity{}, c.now)
	require.Empty(t, tr.Observe(line("fork took 900 ms")))
	require.Len(t, tr.States(), 1)
	require.Equal(t, []time.Time{t0}, tr.States()[0].Pending)
	c.t = t0.Add(10 * time.Minute)
	require.Empty(t, tr.Tick())
	require.Len(t, tr.States(), 1, "still inside the window")
	c.t = t0.Add(11 * time.Minute)
	require.Empty(t, tr.Tick())
	require.Empty(t, tr.States())

	// A pending state restored for a rule that no longer has a threshold.
	plain := anyRule("redis/fork-slow", `fork took \d+ ms`)
	tr = NewTracker(newMatcher(t, plain), Identity{}, c.now)
	tr.Restore([]State{{Key: "redis/fork-slow@", Rule: plain.ID, LastSeen: c.t, Pending: []time.Time{c.t}}})
	require.Len(t, tr.States(), 1)
	require.Empty(t, tr.Tick())
	require.Empty(t, tr.States())
}

func keys(states []State) []string {
	var out []string
	for _, s := range states {
		out = append(out, s.Key)
	}
	return out
}

// TestChanges: the store is told exactly what changed since the last commit, and a
// store that applies Changes holds what States would write whole.
func TestChanges(t *testing.T) {
	oom := anyRule("kernel/oom", `Killed process (?P<pid>\d+)`, `reaped (?P<pid>\d+)`)
	oom.Cooldown = dur(time.Hour)
	oom.Key = keyTemplate(t, "{{.Rule}}/{{.Captures.pid}}")
	oom.Resolve = pats(`recovered (?P<pid>\d+)`)
	slow := anyRule("redis/fork-slow", `fork took (?P<ms>\d+) ms`)
	slow.Threshold = &rules.Threshold{Count: 3, Within: dur(10 * time.Minute)}
	probe := &rules.Rule{ID: "host/commit", Probe: &rules.Probe{}, Cooldown: dur(time.Hour)}

	c := &clock{t: t0}
	tr := NewTracker(newMatcher(t, oom, slow, probe), Identity{Host: "db-1", Node: "n"}, c.now)
	store := map[string]State{}
	apply := func() (upserted, forgot []string) {
		up, fg := tr.Changes()
		for _, s := range up {
			store[s.Key] = s
			upserted = append(upserted, s.Key)
		}
		for _, k := range fg {
			delete(store, k)
			forgot = append(forgot, k)
		}
		return upserted, forgot
	}
	at := func(d time.Duration, text string) {
		l := line(text)
		l.Time = t0.Add(d)
		tr.Observe(l)
	}
	stored := func() []State {
		var out []State
		for _, s := range tr.States() {
			out = append(out, store[s.Key])
		}
		return out
	}

	at(0, "Killed process 7")
	at(time.Second, "Killed process 3")
	up, fg := apply()
	require.Equal(t, []string{"kernel/oom/3", "kernel/oom/7"}, up)
	require.Empty(t, fg)

	at(2*time.Second, "reaped 7") // a fold changes only its own incident
	at(3*time.Second, "fork took 900 ms")
	up, fg = apply()
	require.Equal(t, []string{"kernel/oom/7", "redis/fork-slow@db-1"}, up, "the fold, and a pending count")
	require.Empty(t, fg)
	require.Equal(t, tr.States(), stored())

	up, fg = apply()
	require.Empty(t, up, "nothing changed: nothing written")
	require.Empty(t, fg)

	at(4*time.Second, "recovered 3")
	tr.Probe(probe, true, rules.KeyData{})
	tr.Probe(probe, true, rules.KeyData{}) // inside the cooldown: not stored again
	up, fg = apply()
	require.Equal(t, []string{"host/commit@n"}, up)
	require.Equal(t, []string{"kernel/oom/3"}, fg, "resolved")
	require.Equal(t, tr.States(), stored())

	c.t = t0.Add(11 * time.Minute)
	tr.Tick() // the pending count fell out of its window
	up, fg = apply()
	require.Empty(t, up)
	require.Equal(t, []string{"redis/fork-slow@db-1"}, fg)
	require.Equal(t, tr.States(), stored())

	// A restart: restored states are not written again, and a state whose rule is gone
	// is forgotten by the next changes.
	saved := tr.States()
	saved = append(saved, State{Key: "old/rule@db-1", Rule: "old/rule", Count: 1})
	tr = NewTracker(newMatcher(t, oom, slow, probe), Identity{Host: "db-1", Node: "n"}, c.now)
	tr.Restore(saved)
	up, fg = apply()
	require.Empty(t, up)
	require.Equal(t, []string{"old/rule@db-1"}, fg)
}

func TestStateEncodeDecode(t *testing.T) {
	s := State{Key: "kernel/oom/7", Rule: "kernel/oom", Count: 2, FirstSeen: t0, LastSeen: t0,
		Lines: []LineRef{{Time: t0, Text: "Killed process 7"}}, Captures: map[string]string{"pid": "7"}}
	b, err := s.Encode()
	require.NoError(t, err)
	got, err := Decode(s.Key, b)
	require.NoError(t, err)
	require.Equal(t, s, got)

	_, err = Decode("other", b)
	require.ErrorContains(t, err, `record names key "kernel/oom/7"`)
	_, err = Decode(s.Key, []byte(`{"key":`))
	require.ErrorContains(t, err, `decode incident "kernel/oom/7"`)
	_, err = Decode(s.Key, []byte(`{"key":"kernel/oom/7"}`))
	require.ErrorContains(t, err, `rule ""`)
}

// FuzzDecodeState: a stored incident record decodes or is an error (a damaged record
// is left out at start, never a panic), and what decodes encodes back the same.
func FuzzDecodeState(f *testing.F) {
	b, _ := State{Key: "k", Rule: "r/x", Count: 2, Lines: []LineRef{{Time: t0, Text: "x"}}, Pending: []time.Time{t0}}.Encode()
	f.Add("k", b)
	f.Add("k", []byte(`{"key":"k","rule":"r/x","labels":{"a":"b"},"captures":{"pid":"1"}}`))
	f.Add("k", []byte(`{"key": mangled`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		s, err := Decode(key, data)
		if err != nil {
			return
		}
		again, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(key, again)
		if err != nil || back.Key != s.Key || back.Rule != s.Rule || back.Count != s.Count || len(back.Lines) != len(s.Lines) {
			t.Fatalf("round trip: %+v -> %+v (%v)", s, back, err)
		}
	})
}

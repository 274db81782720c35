package rules_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/matcher/samples"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// samplesDir holds the annotated sample logs of the built-in pack.
const samplesDir = "testdata/samples"

var ruleID = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9][a-z0-9-]*$`)

// builtinPack loads the embedded pack and a Matcher over it.
func builtinPack(t testing.TB) ([]*rules.Rule, *matcher.Matcher) {
	t.Helper()
	rs, err := rules.Builtin()
	require.NoError(t, err)
	m, err := matcher.New(rs)
	require.NoError(t, err)
	return rs, m
}

func TestBuiltinPackRulesAreComplete(t *testing.T) {
	rs, _ := builtinPack(t)
	require.GreaterOrEqual(t, len(rs), 20, "the pack covers Redis, PostgreSQL, kernel, generic and probes")
	for _, r := range rs {
		t.Run(r.ID, func(t *testing.T) {
			require.Regexp(t, ruleID, r.ID)
			require.True(t, r.Builtin)
			require.NotEmpty(t, r.Title)
			require.NotEmpty(t, r.Severity)
			require.NotEmpty(t, strings.TrimSpace(r.RootCause), "root_cause")
			require.NotEmpty(t, r.Advice, "advice")
			require.NotEmpty(t, r.Docs, "docs")
			require.NotEmpty(t, r.Versions, "versions")
			require.NotEmpty(t, r.Tags, "tags")
			for _, d := range r.Docs {
				require.True(t, strings.HasPrefix(d, "https://"), "doc link %q", d)
			}
			for _, d := range r.DeadEnds {
				require.NotEmpty(t, d.Action)
				require.NotEmpty(t, d.Why, "dead end %q says why", d.Action)
			}
			if r.IsProbe() {
				require.Nil(t, r.Match, "a probe has no match")
				require.NotNil(t, r.Probe.Condition.Program)
				return
			}
			require.NotNil(t, r.Match)
			require.NotEmpty(t, r.Examples.Match, "at least one example that must match")
			require.NotEmpty(t, r.Examples.NoMatch, "at least one example that must not match")
		})
	}
}

func TestBuiltinPackExamples(t *testing.T) {
	rs, _ := builtinPack(t)
	for _, f := range matcher.RunExamples(rs) {
		t.Errorf("%s: %s: %q", f.Rule, f.Err, f.Line)
	}
}

// TestBuiltinPackExamplesAgainstWholePack runs every rule's examples through the
// whole pack: a match example fires its own rule, and a rule's no_match example does
// not fire that rule (it may fire another: a Redis EAGAIN line is generic/fork-eagain).
func TestBuiltinPackExamplesAgainstWholePack(t *testing.T) {
	rs, m := builtinPack(t)
	for _, r := range rs {
		for _, text := range r.Examples.Match {
			require.Contains(t, fired(m, text), r.ID, "example %q", text)
		}
		for _, text := range r.Examples.NoMatch {
			require.NotContains(t, fired(m, text), r.ID, "no_match example %q", text)
		}
	}
}

// fired lists the rule ids a line fires.
func fired(m *matcher.Matcher, text string) []string {
	var ids []string
	for _, h := range m.Match(sources.Line{Source: "sample", Text: text}, nil) {
		ids = append(ids, h.Rule.ID)
	}
	return ids
}

func TestSamples(t *testing.T) {
	rs, m := builtinPack(t)
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	covered := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cases, err := samples.ParseFile(f)
			require.NoError(t, err)
			require.NotEmpty(t, cases)
			for _, fail := range samples.Run(m, cases) {
				t.Error(fail.String())
			}
			for _, c := range cases {
				for _, e := range c.Expect {
					covered[e.Rule]++
				}
			}
		})
	}
	for _, r := range rs {
		if !r.IsProbe() {
			require.Positive(t, covered[r.ID], "rule %s has no sample line", r.ID)
		}
	}
}

// TestSamplesQuietCorpus checks the corpora that must fire nothing really are
// annotated so, and are large enough to mean something.
func TestSamplesQuietCorpus(t *testing.T) {
	for _, name := range []string{"ordinary.log", "near-misses.log"} {
		t.Run(name, func(t *testing.T) {
			cases, err := samples.ParseFile(filepath.Join(samplesDir, name))
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(cases), 20)
			for _, c := range cases {
				require.Empty(t, c.Expect, "%s:%d", c.File, c.Line)
			}
		})
	}
}

// TestPostgresCrashRestartIsOneIncident replays a real PostgreSQL 15 log of a kill -9
// and its crash restart: one incident opens at the signal-9 line, the aftermath
// folds into it and "ready to accept connections" resolves it.
func TestPostgresCrashRestartIsOneIncident(t *testing.T) {
	_, m := builtinPack(t)
	events := replay(t, m, filepath.Join(samplesDir, "postgres-15-real.log"), "postgres")
	var kinds []incidents.EventKind
	for _, ev := range events {
		require.Equal(t, "postgres/backend-sigkill", ev.State.Rule, "only the crash rule reacts")
		require.Equal(t, "24391", ev.State.Captures["pid"])
		kinds = append(kinds, ev.Kind)
	}
	want := []incidents.EventKind{incidents.Open}
	// DETAIL, terminating, reinitializing, interrupted, not properly shut down, redo
	// starts, redo done, the end-of-recovery checkpoint.
	for range 8 {
		want = append(want, incidents.Fold)
	}
	want = append(want, incidents.Resolve)
	require.Equal(t, want, kinds)
	last := events[len(events)-1].State
	require.True(t, last.Resolved)
	require.Contains(t, last.Lines[len(last.Lines)-1].Text, "database system is ready to accept connections")
	require.Len(t, last.Lines, 10)
	require.Equal(t, 3, last.Count, "the signal line and the two recovery lines are hits of one incident")
}

// TestKernelOOMIsOneIncidentPerVictim replays the real memory-cgroup OOM kill: the
// summary line opens the victim's incident, the kill line folds into it.
func TestKernelOOMIsOneIncidentPerVictim(t *testing.T) {
	_, m := builtinPack(t)
	events := replay(t, m, filepath.Join(samplesDir, "kernel-6.18-memcg-oom-real.log"), "kernel")
	opened := map[string]incidents.State{}
	for _, ev := range events {
		if ev.Kind == incidents.Open {
			opened[ev.State.Rule] = ev.State
		}
	}
	require.Len(t, opened, 2, "kernel/oom-invoked and kernel/oom-kill")
	kill := opened["kernel/oom-kill"]
	require.Equal(t, "kernel/oom-kill@node-1/25023", kill.Key)
	require.Equal(t, "python3", kill.Captures["task"])
	require.Equal(t, "/cowbell-test/oom", kill.Captures["task_memcg"])
	require.Equal(t, "python3", opened["kernel/oom-invoked"].Captures["invoker"])
}

// TestSystemdIncidentsPerUnit replays systemd's lines: one incident per unit, the
// unit's "Failed with result 'oom-kill'" and oomd's "killed n process(es)" fold into
// the incident of the same unit and nothing else opens.
func TestSystemdIncidentsPerUnit(t *testing.T) {
	_, m := builtinPack(t)
	events := replay(t, m, filepath.Join(samplesDir, "systemd-versions.log"), "journal")
	opened := map[string]int{}
	folded := map[string][]string{}
	for _, ev := range events {
		switch ev.Kind {
		case incidents.Open:
			opened[ev.State.Key]++
		case incidents.Fold:
			last := ev.State.Lines[len(ev.State.Lines)-1].Text
			folded[ev.State.Key] = append(folded[ev.State.Key], last)
		}
	}
	require.Equal(t, map[string]int{
		"systemd/unit-oom-kill@node-1/postgresql@15-main.service": 1,
		"systemd/unit-oom-kill@node-1/redis-server.service":       1,
		"systemd/unit-oom-kill@node-1/redis-server@cache.service": 1,
		"systemd/unit-oom-kill@node-1/postgresql-12.service":      1,
		"systemd/oomd-kill@node-1/redis-server.service":           1,
		"systemd/oomd-kill@node-1/app-gnome-rstudio-4242.scope":   1,
		"systemd/oomd-kill@node-1/postgresql@15-main.service":     1,
	}, opened)
	require.Len(t, folded, 2)
	pg := folded["systemd/unit-oom-kill@node-1/postgresql@15-main.service"]
	require.Len(t, pg, 1)
	require.Contains(t, pg[0], "Failed with result 'oom-kill'")
	oomd := folded["systemd/oomd-kill@node-1/redis-server.service"]
	require.Len(t, oomd, 1)
	require.Contains(t, oomd[0], "systemd-oomd killed 3 process(es) in this unit")
}

// replay feeds a sample file's log lines (annotations skipped) to a Tracker, one
// second apart, and returns every event.
func replay(t *testing.T, m *matcher.Matcher, path, source string) []incidents.Event {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	at := time.Date(2026, 12, 3, 13, 8, 0, 0, time.UTC)
	tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "node-1"}, func() time.Time { return at })
	var events []incidents.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		at = at.Add(time.Second)
		events = append(events, tr.Observe(sources.Line{Source: source, Stream: path, Text: text, Time: at})...)
	}
	require.NoError(t, sc.Err())
	return events
}

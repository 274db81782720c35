package rules_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

// replayCapture decodes a capture as the file source does (format detected) and
// feeds it to a Tracker on the lines' own time; it returns every event.
func replayCapture(t *testing.T, m *matcher.Matcher, path string) []incidents.Event {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var last sources.Line
	tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "n1"}, func() time.Time { return last.Time })
	var events []incidents.Event
	require.NoError(t, file.Scan(context.Background(), f, "capture", path, file.FormatAuto, func(l sources.Line) error {
		last = l
		events = append(events, tr.Observe(l)...)
		return nil
	}))
	return events
}

// TestJournalCaptureKeysSeparate replays a real journal (journalctl -o json) of two
// redis-server instances and bash: redis-a's forks fail with EAGAIN, redis-b saves
// successfully, bash cannot fork. Keys separate programs and instances: bash's EAGAIN
// is its own incident, redis-a's AOF rewrite failure and "can't trigger a background
// AOF rewrite" fold into redis-a's, and redis-b's successful save resolves nothing of
// redis-a's.
func TestJournalCaptureKeysSeparate(t *testing.T) {
	_, m := builtinPack(t)
	events := replayCapture(t, m, "testdata/captures/journal-redis-bash.json")
	opened := map[string]string{} // key → the opening line
	folds := map[string][]string{}
	var resolved []string
	for _, ev := range events {
		if ev.State.Rule != "generic/fork-eagain" {
			continue
		}
		last := ev.State.Lines[len(ev.State.Lines)-1].Text
		switch ev.Kind {
		case incidents.Open:
			opened[ev.State.Key] = last
		case incidents.Fold:
			folds[ev.State.Key] = append(folds[ev.State.Key], last)
		case incidents.Resolve:
			resolved = append(resolved, ev.State.Key)
		}
	}
	require.Len(t, opened, 2, "bash and redis-a: %v", opened)
	var redisKey, bashKey string
	for k, l := range opened {
		switch {
		case strings.Contains(k, "/redis-a/"):
			redisKey = k
			require.Contains(t, l, "Can't save in background: fork: Resource temporarily unavailable")
		case strings.HasSuffix(k, "/bash"):
			bashKey = k
			require.Contains(t, l, "bash: fork: retry")
		}
	}
	require.NotEmpty(t, redisKey, "%v", opened)
	require.NotEmpty(t, bashKey, "%v", opened)
	require.Empty(t, resolved, "redis-b's successful save does not resolve redis-a's failure")
	joined := strings.Join(folds[redisKey], "\n")
	require.Contains(t, joined, "Can't rewrite append only file in background: fork: Resource temporarily unavailable")
	require.Contains(t, joined, "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation")
	require.Len(t, folds[bashKey], 4, "bash's retries and its last word fold into its own incident")
}

// TestOOMReaperFoldsIntoItsVictim: "oom_reaper: reaped process n" folds into the
// incident of victim n, and a reaper line of a pid with no incident folds into no
// other victim's.
func TestOOMReaperFoldsIntoItsVictim(t *testing.T) {
	_, m := builtinPack(t)
	tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "n1"}, time.Now)
	at := time.Date(2026, 12, 3, 13, 8, 0, 0, time.UTC)
	observe := func(text string) []incidents.Event {
		at = at.Add(time.Second)
		return tr.Observe(sources.Line{Source: "kernel", Stream: "kmsg", Text: text, Time: at})
	}
	require.Len(t, observe("[ 99.000001] Out of memory: Killed process 4321 (postgres) total-vm:4513780kB, anon-rss:3145728kB, file-rss:0kB, shmem-rss:131072kB, UID:105 pgtables:6400kB oom_score_adj:0"), 1)
	require.Empty(t, observe("[ 99.000002] oom_reaper: reaped process 5555 (stress-ng), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"),
		"another pid's reaper line is not this victim's")
	ev := observe("[ 99.000003] oom_reaper: reaped process 4321 (postgres), now anon-rss:0kB, file-rss:0kB, shmem-rss:131072kB")
	require.Len(t, ev, 1)
	require.Equal(t, incidents.Fold, ev[0].Kind)
	require.Equal(t, "kernel/oom-kill@n1/4321", ev[0].State.Key)
}

// TestRecallManifest checks testdata/captures/recall.tsv, the annotation of the real
// captures that recall.sh measures with the binary: every line it lists, decoded as
// the file source decodes its file, is a hit of its rule; and no line quoting an
// incident (logged statements, MONITOR echoes) is a hit of any.
func TestRecallManifest(t *testing.T) {
	_, m := builtinPack(t)
	b, err := os.ReadFile("testdata/captures/recall.tsv")
	require.NoError(t, err)
	decoded := map[string][]sources.Line{}
	lines := func(path string) []sources.Line {
		if ls, ok := decoded[path]; ok {
			return ls
		}
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		var ls []sources.Line
		require.NoError(t, file.Scan(context.Background(), f, "capture", path, file.FormatAuto, func(l sources.Line) error {
			ls = append(ls, l)
			return nil
		}))
		decoded[path] = ls
		return ls
	}
	rows := 0
	for _, row := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(row, "#") {
			continue
		}
		f := strings.Split(row, "\t")
		require.Len(t, f, 4, row)
		kind, path, rule, text := f[0], f[1], f[2], f[3]
		found := false
		for _, l := range lines(path) {
			if strings.Contains(l.Text, text) && slices.Contains(fired(m, l.Text), rule) {
				found = true
			}
		}
		require.True(t, found, "%s: no %s hit on a line with %q in %s", kind, rule, text, path)
		rows++
	}
	require.GreaterOrEqual(t, rows, 20)
	for _, path := range []string{"testdata/captures/redis-7.0-monitor-quoting.txt", "testdata/captures/postgres-15-stderr.log",
		"testdata/captures/postgres-15-csvlog.csv", "testdata/captures/postgres-15-jsonlog.json"} {
		for _, l := range lines(path) {
			if strings.Contains(l.Text, "statement: ") || strings.HasSuffix(path, ".txt") {
				require.Empty(t, fired(m, l.Text), "quoted text fires: %q", l.Text)
			}
		}
	}
}

package rules_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

// replayCapture decodes a capture as the file source does (format detected) and
// feeds it to a Tracker on the lines' own time; it returns every event.
func replayCapture(t *testing.T, m *matcher.Matcher, path string) []matcher.Event {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var last sources.Line
	tr := matcher.NewTracker(m, matcher.Identity{Host: "db1", Node: "n1"}, func() time.Time { return last.Time })
	var events []matcher.Event
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
		case matcher.Open:
			opened[ev.State.Key] = last
		case matcher.Fold:
			folds[ev.State.Key] = append(folds[ev.State.Key], last)
		case matcher.Resolve:
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

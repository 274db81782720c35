package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

// TestReplayJoinsByPid: the kernel's OOM kill of a PostgreSQL backend and
// PostgreSQL's report of that backend's death come from two logs; as in the live run,
// they are one page: the kernel's incident, paged first, and its update naming
// PostgreSQL's line by the pid they share.
func TestReplayJoinsByPid(t *testing.T) {
	rs, err := rules.Builtin()
	require.NoError(t, err)
	kernel := "2026-11-30T03:12:09.100Z kernel: Out of memory: Killed process 4242 (postgres) total-vm:8801032kB, anon-rss:6390212kB, file-rss:0kB, shmem-rss:131072kB, UID:999 pgtables:12960kB oom_score_adj:0\n"
	pg := "2026-11-30 03:12:09.350 UTC [812] LOG:  server process (PID 4242) was terminated by signal 9: Killed\n" +
		"2026-11-30 03:12:09.351 UTC [812] LOG:  terminating any other active server processes\n" +
		"2026-11-30 03:12:11.002 UTC [812] LOG:  server process (PID 5151) was terminated by signal 9: Killed\n"
	other := "2026-11-30T03:30:00.000Z kernel: Out of memory: Killed process 777 (redis-server) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:999 pgtables:1kB oom_score_adj:0\n"
	var incs []*incidents.Incident
	err = Replay(context.Background(), rs, []Input{
		{Name: "kern.log", Reader: strings.NewReader(kernel)},
		{Name: "postgresql.log", Reader: strings.NewReader(pg)},
		{Name: "kern.log.1", Reader: strings.NewReader(other)},
	}, ReplayOptions{Format: file.FormatPlain, Host: "db-1", Node: "m/b"}, func(v any) error {
		incs = append(incs, v.(*incidents.Incident))
		return nil
	})
	require.NoError(t, err)
	var pages []*incidents.Incident
	for _, inc := range incs {
		require.NotEqual(t, "postgres/backend-sigkill", inc.Rule.ID, "PostgreSQL's report is no page of its own")
		if inc.Rule.ID == "kernel/oom-kill" && inc.Captures["pid"] == "4242" {
			pages = append(pages, inc)
		}
	}
	require.Len(t, pages, 2, "the page and its update")
	oom, update := pages[0], pages[1]
	require.Equal(t, oom.Key, update.Key)
	require.Empty(t, oom.Related, "the kernel line came first: nothing to name yet")
	require.Len(t, update.Related, 1)
	rel := update.Related[0]
	require.Equal(t, "postgres/backend-sigkill", rel.Rule)
	require.Equal(t, "4242", rel.PID)
	require.Equal(t, "server process", rel.Task)
	require.Contains(t, rel.Line, "server process (PID 4242) was terminated by signal 9")
	for _, inc := range incs {
		for _, r := range inc.Related {
			require.NotEqual(t, "777", r.PID, "a different process is not related")
		}
	}
}

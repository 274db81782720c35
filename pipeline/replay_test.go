package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestReplayHitsAroundTheSample: the matcher is built once the first tuneLines lines
// are read (or all of a shorter input); every line is matched by it, whatever side of
// the sample it is on, in one input or several, and an empty input or a failing load
// ends the replay instead of waiting for lines or rules that never come.
func TestReplayHitsAroundTheSample(t *testing.T) {
	rs, err := rules.Parse("t.yaml", []byte(`rules:
  - id: t/fork
    title: fork failure
    match:
      any: ['fork: Cannot allocate memory \((?P<n>\d+)\)']
`))
	require.NoError(t, err)
	log := func(n int, at ...int) string {
		var b strings.Builder
		for i := range n {
			if slices.Contains(at, i) {
				fmt.Fprintf(&b, "fork: Cannot allocate memory (%d)\n", i)
			} else {
				fmt.Fprintf(&b, "ordinary line %d\n", i)
			}
		}
		return b.String()
	}
	for _, tc := range []struct {
		name   string
		inputs []string
		want   []string
	}{
		{"empty", []string{""}, nil},
		{"one line", []string{log(1, 0)}, []string{"0"}},
		{"the sample's last line", []string{log(tuneLines, tuneLines-1)}, []string{"4095"}},
		{"past the sample", []string{log(3*tuneLines, 0, tuneLines, 3*tuneLines-1)}, []string{"0", "4096", "12287"}},
		{"a sample over two inputs", []string{log(10, 9), log(2*tuneLines, 5, tuneLines+1)}, []string{"9", "5", "4097"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []Input
			for i, in := range tc.inputs {
				inputs = append(inputs, Input{Name: fmt.Sprint("log", i), Reader: strings.NewReader(in)})
			}
			var got []string
			err := Replay(context.Background(), rs, inputs, ReplayOptions{Format: file.FormatPlain, Host: "h", Hits: true},
				func(v any) error {
					got = append(got, v.(ReplayHit).Captures["n"])
					return nil
				})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("failing load", func(t *testing.T) {
		boom := errors.New("bad rules")
		err := ReplayRules(context.Background(), func() ([]*rules.Rule, error) { return nil, boom },
			[]Input{{Name: "log", Reader: strings.NewReader(log(3*tuneLines, 1))}},
			ReplayOptions{Format: file.FormatPlain, Host: "h", Hits: true}, func(any) error { return nil })
		require.ErrorIs(t, err, boom)
	})
}

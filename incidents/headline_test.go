package incidents

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The headline says what broke, where, and the one thing to do (or the cause), in
// that order, and never repeats the title.
func TestHeadline(t *testing.T) {
	read := t0.Add(5 * time.Minute)
	tests := []struct {
		name string
		inc  Incident
		want string
	}{
		{"redis fork failure", Incident{
			Rule:   RuleRef{ID: "redis/bgsave-fork-enomem", Title: "Redis cannot fork for BGSAVE (ENOMEM)"},
			Host:   "cache-7",
			Labels: map[string]string{"namespace": "cache", "pod": "redis-0", "container": "redis"},
			Advice: []Advice{
				{Text: "This host runs vm.overcommit_memory=0 (heuristic). If it is a replica, `redis-cli config get save` first."},
				{Text: "Set it to 1, as Redis asks: `sysctl -w vm.overcommit_memory=1`, and persist it\nin /etc/sysctl.d. Restarting Redis is not needed."},
			},
		}, "Redis cannot fork for BGSAVE (ENOMEM) on cache-7 (cache/redis-0/redis). Do: Set it to 1, as Redis asks: `sysctl -w vm.overcommit_memory=1`, and persist it in /etc/sysctl.d."},
		{"postgres killed by the OOM killer", Incident{
			Rule:     RuleRef{ID: "postgres/backend-sigkill", Title: "A PostgreSQL process was killed by SIGKILL and the cluster restarted"},
			Host:     "db-1",
			Captures: map[string]string{"pid": "4321", "process": "server process"},
			Advice:   []Advice{{Text: "Use strict overcommit: `sysctl -w vm.overcommit_memory=2`."}},
			Related:  []Related{{Rule: "kernel/oom-kill", PID: "4321", Cause: "killed by the kernel OOM killer: anon-rss 3145728 kB"}},
		}, "A PostgreSQL process was killed by SIGKILL and the cluster restarted (server process, pid 4321) on db-1. Cause: killed by the kernel OOM killer: anon-rss 3145728 kB."},
		{"read from a backlog", Incident{
			Rule: RuleRef{ID: "redis/fork", Title: "Redis cannot fork"}, Host: "db-1",
			LastSeen: t0, ReadAt: &read,
		}, "Redis cannot fork on db-1, at 2024-01-01 00:00 UTC (read 5 min later)."},
		{"advice without a command is no action", Incident{
			Rule: RuleRef{ID: "kernel/oom-invoked", Title: "The kernel OOM killer was invoked"}, Host: "db-1",
			Advice: []Advice{{Text: "An order-0 allocation (a single page) failed. Look at the cgroup."}},
		}, "The kernel OOM killer was invoked on db-1. An order-0 allocation (a single page) failed."},
		{"no advice, unit", Incident{
			Rule: RuleRef{ID: "systemd/unit-oom-kill", Title: "A unit's process was OOM-killed"}, Host: "db-1",
			Labels: map[string]string{"unit": "postgresql@15-main.service"},
		}, "A unit's process was OOM-killed on db-1 (postgresql@15-main.service)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.inc.Headline()
			require.Equal(t, tt.want, got)
			require.Equal(t, 1, strings.Count(got, tt.inc.Rule.Title), "the title once")
		})
	}
}

// The one thing to do is cut at a word and never leaves a code span open.
func TestHeadlineDoIsBounded(t *testing.T) {
	inc := Incident{Advice: []Advice{{Text: "Run `" + strings.Repeat("sysctl -w a=b ", 50) + "` now."}}}
	do := inc.Do()
	require.LessOrEqual(t, len(do), maxDo)
	require.True(t, strings.HasSuffix(do, "`…"), do)
	require.Zero(t, strings.Count(do, "`")%2)
}

func TestReflow(t *testing.T) {
	in := "At startup Redis read the file\nand found it is not 1.\n\nSecond paragraph\nwraps too.\n- a list item\n- another\n  indented detail"
	want := "At startup Redis read the file and found it is not 1.\n\nSecond paragraph wraps too.\n- a list item\n- another\n  indented detail"
	require.Equal(t, want, Reflow(in))
	require.Equal(t, "one line", Reflow("  one line \n"))
}

func TestTitle(t *testing.T) {
	for _, c := range []struct {
		inc  Incident
		want string
	}{
		{Incident{Summary: "Redis cannot fork on cache-7. Do: x", Host: "cache-7", Rule: RuleRef{ID: "redis/x", Title: "T"}}, "Redis cannot fork on cache-7. Do: x"},
		{Incident{Host: "db-1", Rule: RuleRef{ID: "pg/oom", Title: "PostgreSQL OOM"}}, "PostgreSQL OOM on db-1"},
		{Incident{Rule: RuleRef{ID: "pg/oom"}}, "pg/oom"},
		{Incident{Summary: "S", Test: true}, "[TEST] S"},
	} {
		if got := c.inc.Title(); got != c.want {
			t.Errorf("Title() = %q, want %q", got, c.want)
		}
	}
}

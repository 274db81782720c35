package rules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
)

func TestProbeConditions(t *testing.T) {
	nearLimit := func(e *facts.Env) { e.Commit.Ratio = 0.93 }
	thpAlways := func(e *facts.Env) { e.THP.Enabled = "always" }
	noRedis := func(e *facts.Env) { e.Running = map[string]bool{} }
	onlyPostgres := func(e *facts.Env) { e.Running = map[string]bool{"postgres": true} }
	oomKilled := func(e *facts.Env) { e.Trend.OOMKillDelta = 1 }
	kernel65 := func(e *facts.Env) { e.Kernel = facts.Kernel{Release: "6.5.0-44-generic", Major: 6, Minor: 5} }
	leaking := func(e *facts.Env) {
		e.Trend = facts.Trend{Samples: 60, SpanSeconds: 7200, CommittedGrowthKBPerHour: 0.002 * memTotalKB}
	}
	shortTrend := func(e *facts.Env) { e.Trend.SpanSeconds = 600 }
	memChanged := func(e *facts.Env) { e.Trend.MemTotalChangedKB = 1 << 20 }
	slowFork := func(e *facts.Env) { e.Redis = map[string]string{"latest_fork_usec": "812000"} }
	fastFork := func(e *facts.Env) { e.Redis = map[string]string{"latest_fork_usec": "9000"} }

	tests := []struct {
		name, rule string
		env        facts.Env
		want       bool
	}{
		{"strict, 93% committed", "host/commit-near-limit", with(host(2), nearLimit), true},
		{"strict, 75% committed", "host/commit-near-limit", host(2), false},
		{"heuristic, 93% committed", "host/commit-near-limit", with(host(0), nearLimit), false},
		{"redis under mode 0", "redis/overcommit-not-enabled", host(0), true},
		{"redis under mode 2", "redis/overcommit-not-enabled", host(2), true},
		{"redis under mode 1", "redis/overcommit-not-enabled", host(1), false},
		{"no redis under mode 0", "redis/overcommit-not-enabled", with(host(0), noRedis), false},
		{"THP always under redis", "host/thp-always", with(host(1), thpAlways), true},
		{"THP always under postgres", "host/thp-always", with(host(2), thpAlways, onlyPostgres), true},
		{"THP always, no database", "host/thp-always", with(host(1), thpAlways, noRedis), false},
		{"THP madvise under redis", "host/thp-always", host(1), false},
		{"cgroup OOM kill", "cgroup/oom-kill-rising", with(host(1), oomKilled), true},
		{"no cgroup OOM kill", "cgroup/oom-kill-rising", host(1), false},
		{"6.5 leaking", "kernel/committed-as-leak", with(host(2), kernel65, leaking), true},
		{"6.5 leaking, trend too short", "kernel/committed-as-leak", with(host(2), kernel65, leaking, shortTrend), false},
		{"6.5 growing after memory hotplug", "kernel/committed-as-leak", with(host(2), kernel65, leaking, memChanged), false},
		{"6.1 growing", "kernel/committed-as-leak", with(host(2), leaking), false},
		{"6.5 flat", "kernel/committed-as-leak", with(host(2), kernel65), false},
		{"redis fork 812 ms", "redis/slow-fork", with(host(1), slowFork), true},
		{"redis fork 9 ms", "redis/slow-fork", with(host(1), fastFork), false},
		{"redis INFO not configured", "redis/slow-fork", host(1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ruleByID(t, tt.rule)
			require.True(t, r.IsProbe())
			env := tt.env
			env.Recommend = enrich.Recommend(env.Snapshot)
			got, err := r.Probe.Condition.Eval(env)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestProbeAdvice renders the numbers a probe's notification carries.
func TestProbeAdvice(t *testing.T) {
	env := with(host(2), postgresToo, func(e *facts.Env) {
		e.Commit.LimitKB = 10 << 20
		e.Commit.Ratio = 0.95
		e.Trend = facts.Trend{Samples: 30, SpanSeconds: 3600, CommittedGrowthKBPerHour: 52000}
	})
	got := advise(t, ruleByID(t, "host/commit-near-limit"), env)
	require.Contains(t, got, "95.0%")
	require.Contains(t, got, "vm.overcommit_kbytes=")
	require.Contains(t, got, "52000 kB an")
	require.Contains(t, got, "max_connections")
}

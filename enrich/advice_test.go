package enrich

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// TestAdviceFixtures checks, per fixture host, which probes fire and the exact advice
// chosen (testdata/<case>/advice.golden; -update rewrites it).
func TestAdviceFixtures(t *testing.T) {
	rs := loadRules(t)
	want := map[string][]string{
		"host":             {},
		"mode2-near-limit": {"host/commit-near-limit"},
		"leak-6.5":         {"kernel/committed-as-leak"},
		"cgroup-v1":        {"kernel/cgroup-oom-kill"},
		"cgroup-v2":        {"host/thp-always", "kernel/cgroup-oom-kill"},
		"redis-postgres":   {"host/thp-always", "redis/overcommit-not-1"},
	}
	for _, tc := range fixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(t, rs, snapshotOf(t, tc))
			require.Equal(t, want[tc.name], v.Probes)
			golden(t, tc.name+"/advice.golden", v)
		})
	}
}

// TestRecommendFixture: the captured Redis+PostgreSQL host (mode 0, 32 GiB, no swap)
// is recommended strict mode 2, with a limit that holds what is committed and the
// next fork of its Redis, and the commands to get there.
func TestRecommendFixture(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	r := s.Recommend
	require.Equal(t, "redis+postgres", r.For)
	require.Equal(t, int64(2), r.Mode)
	require.Equal(t, s.Commit.RecommendedKbytes, r.OvercommitKbytes, "the baseline holds everything here")
	require.Equal(t, int64(28940697), r.OvercommitKbytes, "32 GiB × 0.8 + 2 GiB")
	var redisData int64
	for _, p := range s.Processes {
		if p.Name == "redis" {
			redisData = max(redisData, p.VmDataKB+p.VmStkKB)
		}
	}
	require.Positive(t, redisData)
	require.Equal(t, redisData, r.ForkReserveKB)
	require.Equal(t, s.Commit.CommittedKB+redisData, r.NeedKB)
	require.True(t, r.Fits)
	require.True(t, r.Change)
	require.Equal(t, "  sysctl -w vm.overcommit_kbytes=28940697\n  sysctl -w vm.overcommit_memory=2\n", r.Commands)
	require.Contains(t, r.Text, "Persist in /etc/sysctl.d/90-cowbell-overcommit.conf:\n  vm.overcommit_kbytes = 28940697\n  vm.overcommit_memory = 2\n")
	require.Contains(t, r.Text, "holds Redis's next fork")
	require.NotContains(t, r.Text, "on the node")
	for _, d := range []string{DocKernelOvercommit, DocKernelSysctlVM, DocPostgresOvercommit, DocRedisAdmin} {
		require.Contains(t, r.Docs, d)
		require.Contains(t, r.Text, d)
	}
}

// TestReconcile: advice of a user's rule asking for another mode than the host's
// recommendation is replaced by the recommendation, once, keeping the facts it read;
// advice asking for the recommended mode stays.
func TestReconcile(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	env := facts.Env{Snapshot: s}
	advice := []Applied{
		{Text: "Keep me."},
		{Text: "Set vm.overcommit_memory=1 for Redis.", Facts: map[string]string{"vm.overcommit_memory": "0"}},
		{Text: "echo 2 > /proc/sys/vm/overcommit_memory"},
		{Text: "Or `echo 1 > /proc/sys/vm/overcommit_memory`.", Facts: map[string]string{"running.redis": "true"}},
		{Text: "Keep me too."},
	}
	got := Reconcile(advice, env)
	require.Len(t, got, 4)
	require.Equal(t, "Keep me.", got[0].Text)
	require.Equal(t, s.Recommend.Text, got[1].Text)
	require.Equal(t, ReconciledWhen, got[1].When)
	require.Equal(t, s.Recommend.Docs, got[1].Docs)
	require.Equal(t, map[string]string{"vm.overcommit_memory": "0", "running.redis": "true"}, got[1].Facts)
	require.Equal(t, "echo 2 > /proc/sys/vm/overcommit_memory", got[2].Text)
	require.Equal(t, "Keep me too.", got[3].Text)
	require.Equal(t, "Set vm.overcommit_memory=1 for Redis.", advice[1].Text, "the input is not modified")
}

func TestReconcileLeavesOthers(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	for _, tc := range []struct {
		name   string
		env    facts.Env
		advice []Applied
	}{
		{"no recommendation (no snapshot)", facts.Env{}, []Applied{{Text: "vm.overcommit_memory = 1"}}},
		{"the recommended mode", facts.Env{Snapshot: s}, []Applied{{Text: "vm.overcommit_memory=2"}, {Text: "other"}}},
		{"no mode", facts.Env{Snapshot: s}, []Applied{{Text: "raise vm.overcommit_kbytes"}}},
		{"nothing", facts.Env{Snapshot: s}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.advice, Reconcile(tc.advice, tc.env))
		})
	}
}

func TestAdviseSkipsFailures(t *testing.T) {
	r := parseRule(t, `
id: test/advice
title: t
match: x
advice:
  - text: "always"
  - text: "never"
    when: "commit.mode == 7"
  - text: "bad at run time"
    when: "int(redis.used_memory) > 0"
  - text: "{{.Commit.Mode}} with {{index .Redis \"x\"}}"
    when: "commit.mode == 2"
    success_rate: 0.8
`)
	s := snapshotOf(t, fixtureCases[1])
	got := Advise(r, facts.Env{Snapshot: s})
	require.Equal(t, []Applied{
		{Text: "always"},
		{Text: "2 with ", When: "commit.mode == 2", Facts: map[string]string{"commit.mode": "2"}, SuccessRate: 0.8},
	}, got)
}

func TestReferenced(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	s.Redis = map[string]string{"latest_fork_usec": "812345"}
	env := facts.Env{Snapshot: s, Captures: map[string]string{"pid": "955"}}
	for _, tc := range []struct {
		src  string
		want map[string]string
	}{
		{"vm.overcommit_memory != 1", map[string]string{"vm.overcommit_memory": "0"}},
		{"commit.mode == 0 && commit.ratio >= 0.5", map[string]string{"commit.mode": "0", "commit.ratio": "0.625"}},
		{`meminfo["Committed_AS"] > 0 && meminfo.MemTotal > 0`,
			map[string]string{"meminfo.Committed_AS": "10485760", "meminfo.MemTotal": "33554432"}},
		{`"latest_fork_usec" in redis && int(redis.latest_fork_usec) >= 500000`,
			map[string]string{"redis.latest_fork_usec": "812345"}},
		{"running.redis && thp.enabled == \"always\"", map[string]string{"running.redis": "true", "thp.enabled": "always"}},
		{`any(processes, .name == "postgres" && .oom_score_adj < 0)`, nil},
		{"container || kernel.major >= 6", map[string]string{"container": "false", "kernel.major": "6"}},
		{`captures.pid == "955"`, map[string]string{"captures.pid": "955"}},
		{"not valid (", nil},
	} {
		t.Run(tc.src, func(t *testing.T) {
			require.Equal(t, tc.want, Referenced(tc.src, env))
		})
	}
}

func parseRule(t *testing.T, src string) *rules.Rule {
	t.Helper()
	rs, err := rules.Parse("test.yaml", []byte(strings.TrimSpace(src)))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	return rs[0]
}

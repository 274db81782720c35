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

// TestReconcileFixture: on the Redis+PostgreSQL host the two contradicting entries
// become one, which recommends mode 2 with this host's numbers.
func TestReconcileFixture(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	env := facts.Env{Snapshot: s}
	var all []Applied
	for _, r := range loadRules(t) {
		all = append(all, Advise(r, env)...)
	}
	got := Reconcile(all, env)
	require.Len(t, got, len(all)-1)
	var merged []Applied
	for _, a := range got {
		require.False(t, wantsMode1.MatchString(a.Text) != wantsMode2.MatchString(a.Text),
			"no contradicting entry is left: %q", a.Text)
		if a.When == ReconciledWhen {
			merged = append(merged, a)
		}
	}
	require.Len(t, merged, 1)
	text := merged[0].Text
	for _, line := range []string{
		"sysctl -w vm.overcommit_kbytes=28940697\n",
		"sysctl -w vm.overcommit_memory=2\n",
		"Persist in /etc/sysctl.d/90-cowbell-overcommit.conf:\n  vm.overcommit_kbytes = 28940697\n  vm.overcommit_memory = 2\n",
		"Committed_AS is 10485760 kB, which leaves 18454937 kB",
		"enough for Redis's fork (6291456 kB, redis.vm_rss_kb)",
		"`repl-diskless-sync yes`",
		"`CONFIG SET maxmemory 18897855488`",
	} {
		require.Contains(t, text, line)
	}
	require.NotContains(t, text, "container")
	require.Equal(t, "6291456", merged[0].Facts["redis.vm_rss_kb"])
	require.Equal(t, "0", merged[0].Facts["vm.overcommit_memory"])
	require.Equal(t, "28940697", merged[0].Facts["commit.recommended_kbytes"])
}

func TestReconcileChoice(t *testing.T) {
	base := snapshotOf(t, fixtureCases[5])
	advice := []Applied{
		{Text: "Keep me."},
		{Text: "Set vm.overcommit_memory=1 for Redis.", Facts: map[string]string{"vm.overcommit_memory": "0"}},
		{Text: "echo 2 > /proc/sys/vm/overcommit_memory", Facts: map[string]string{"running.postgres": "true"}},
		{Text: "Keep me too."},
	}
	for _, tc := range []struct {
		name     string
		edit     func(s *facts.Snapshot)
		want     []string // in the reconciled text
		wantNot  []string
		factKey  string
		factWant string
	}{
		{
			name: "mode 2 when the headroom covers used_memory",
			edit: func(s *facts.Snapshot) { s.Redis = map[string]string{"used_memory": "8589934592"} },
			want: []string{"strict mode 2 with vm.overcommit_kbytes=28940697",
				"enough for Redis's fork (8388608 kB, redis.used_memory)"},
			factKey: "redis.used_memory", factWant: "8589934592",
		},
		{
			name: "mode 1 and a protected postmaster without the headroom",
			edit: func(s *facts.Snapshot) { s.Commit.CommittedKB = 25165824 },
			want: []string{
				"CommitLimit would be 28940697 kB (27.6 GiB) and Committed_AS is already 25165824 kB, which leaves 3774873 kB",
				"less than Redis's fork may need (6291456 kB, redis.vm_rss_kb)",
				"sysctl -w vm.overcommit_memory=1\n", "  vm.overcommit_memory = 1\n",
				"postmaster (pid 901, oom_score_adj -900 now)", "`echo -1000 > /proc/901/oom_score_adj`",
				"OOMScoreAdjust=-1000",
			},
			wantNot: []string{"overcommit_kbytes=28940697\n", "Guaranteed QoS"},
			factKey: "commit.committed_kb", factWant: "25165824",
		},
		{
			name:    "in a container the fix belongs to the node",
			edit:    func(s *facts.Snapshot) { s.Container, s.Commit.CommittedKB = true, 25165824 },
			want:    []string{"cannot be set from a pod spec", "on the node itself", "DaemonSet", "Guaranteed QoS"},
			factKey: "container", factWant: "true",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.edit(&s)
			got := Reconcile(advice, facts.Env{Snapshot: s})
			require.Len(t, got, 3)
			require.Equal(t, "Keep me.", got[0].Text)
			require.Equal(t, "Keep me too.", got[2].Text)
			r := got[1]
			require.Equal(t, ReconciledWhen, r.When)
			for _, w := range tc.want {
				require.Contains(t, r.Text, w)
			}
			for _, w := range tc.wantNot {
				require.NotContains(t, r.Text, w)
			}
			require.Equal(t, tc.factWant, r.Facts[tc.factKey])
			require.Equal(t, "true", r.Facts["running.postgres"], "the replaced advice's facts are kept")
		})
	}
}

func TestReconcileLeavesOthers(t *testing.T) {
	s := snapshotOf(t, fixtureCases[5])
	one := Applied{Text: "vm.overcommit_memory = 1"}
	two := Applied{Text: "vm.overcommit_memory=2"}
	for _, tc := range []struct {
		name   string
		edit   func(s *facts.Snapshot)
		advice []Applied
	}{
		{"only Redis runs", func(s *facts.Snapshot) { s.Running = map[string]bool{"redis": true} }, []Applied{one, two}},
		{"only PostgreSQL runs", func(s *facts.Snapshot) { s.Running = map[string]bool{"postgres": true} }, []Applied{one, two}},
		{"no contradiction", func(*facts.Snapshot) {}, []Applied{one, {Text: "other"}}},
		{"nothing", func(*facts.Snapshot) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s
			tc.edit(&s)
			require.Equal(t, tc.advice, Reconcile(tc.advice, facts.Env{Snapshot: s}))
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

// TestReconcileBuiltinPack: the shipped rules' overcommit advice, all applied on the
// Redis+PostgreSQL host, is left with one reconciled entry and no contradiction.
func TestReconcileBuiltinPack(t *testing.T) {
	rs, err := rules.Builtin()
	require.NoError(t, err)
	env := facts.Env{Snapshot: snapshotOf(t, fixtureCases[5])}
	var all []Applied
	for _, r := range rs {
		all = append(all, Advise(r, env)...)
	}
	var merged int
	for _, a := range Reconcile(all, env) {
		require.False(t, wantsMode1.MatchString(a.Text) != wantsMode2.MatchString(a.Text),
			"no contradicting entry is left: %q", a.Text)
		if a.When == ReconciledWhen {
			merged++
		}
	}
	require.Equal(t, 1, merged)
}

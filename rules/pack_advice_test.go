package rules_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Sizes of the host the advice tests describe: 16 GiB of RAM, no hugepages.
const (
	memTotalKB    = 16 << 20
	recommendedKB = memTotalKB*8/10 + 2<<20 // usable × 0.8 + 2 GiB
)

// host returns a snapshot of a plain host in the given overcommit mode, running
// Redis, with cowbell in a systemd service (not a container) and no cgroup limit.
func host(mode int64) facts.Env {
	return facts.Env{Snapshot: facts.Snapshot{
		Host:    "db1",
		Kernel:  facts.Kernel{Release: "6.1.0-21-amd64", Major: 6, Minor: 1},
		VM:      map[string]int64{"overcommit_memory": mode, "overcommit_ratio": 50, "overcommit_kbytes": 0},
		Meminfo: map[string]int64{"MemTotal": memTotalKB, "MemAvailable": 4 << 20, "Committed_AS": 6 << 20},
		Commit: facts.Commit{
			Mode: mode, CommittedKB: 6 << 20, LimitKB: 8 << 20, Ratio: 0.75, HeadroomKB: 2 << 20,
			UsableKB: memTotalKB, RecommendedKbytes: recommendedKB,
		},
		THP:     facts.THP{Enabled: "madvise", Defrag: "madvise"},
		Cgroup:  facts.Cgroup{Version: 2, Path: "/system.slice/cowbell.service", LimitBytes: -1},
		Running: map[string]bool{"redis": true},
	}}
}

// with applies changes to a copy of env.
func with(env facts.Env, changes ...func(*facts.Env)) facts.Env {
	for _, c := range changes {
		c(&env)
	}
	return env
}

func postgresToo(e *facts.Env) {
	e.Running = map[string]bool{"redis": e.Running["redis"], "postgres": true}
}

func inPod(e *facts.Env) {
	e.Cgroup = facts.Cgroup{Version: 2, Path: "/", LimitBytes: 1 << 30, UsageBytes: 900 << 20, UsageRatio: 900.0 / 1024}
}

func memLimit(e *facts.Env) {
	e.Cgroup = facts.Cgroup{Version: 2, Path: "/system.slice/redis.service", LimitBytes: 1 << 30, UsageBytes: 900 << 20, UsageRatio: 900.0 / 1024, OOMKill: 2}
}

func captures(kv ...string) func(*facts.Env) {
	return func(e *facts.Env) {
		e.Captures = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Captures[kv[i]] = kv[i+1]
		}
	}
}

// advise renders the advice of r that applies on env, as the incident would carry it.
func advise(t *testing.T, r *rules.Rule, env facts.Env) string {
	t.Helper()
	var out []string
	for i, a := range r.Advice {
		ok, err := a.When.Eval(env)
		require.NoError(t, err, "%s advice[%d] when", r.ID, i)
		if !ok {
			continue
		}
		text, err := a.Text.Execute(env)
		require.NoError(t, err, "%s advice[%d] text", r.ID, i)
		out = append(out, text)
	}
	return strings.Join(out, "\n")
}

func ruleByID(t *testing.T, id string) *rules.Rule {
	t.Helper()
	rs, _ := builtinPack(t)
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no rule %s", id)
	return nil
}

const (
	setMode1     = "sysctl -w vm.overcommit_memory=1"
	persistMode1 = "echo 'vm.overcommit_memory = 1' > /etc/sysctl.d/60-redis.conf"
)

func TestAdviceFollowsTheSnapshot(t *testing.T) {
	strict := "vm.overcommit_kbytes=" + strconv.FormatInt(recommendedKB, 10)
	tests := []struct {
		name, rule string
		env        facts.Env
		want, not  []string
	}{
		{"redis fork, mode 0", "redis/bgsave-fork-enomem", host(0),
			[]string{setMode1, persistMode1, "Mode 0 (heuristic)"}, []string{strict, "real shortage"}},
		{"redis fork, mode 2 alone", "redis/bgsave-fork-enomem", host(2),
			[]string{setMode1, persistMode1, "Mode 2 (strict)", rules.FormatKB(8 << 20)}, []string{strict}},
		{"redis fork, mode 2 beside PostgreSQL", "redis/bgsave-fork-enomem", with(host(2), postgresToo),
			[]string{strict, "mode 1 would trade", "PostgreSQL runs on this host"}, []string{setMode1}},
		{"redis fork, mode 1 in a memory cgroup", "redis/bgsave-fork-enomem", with(host(1), memLimit),
			[]string{"real shortage", rules.FormatBytes(1 << 30), rules.FormatPct(900.0 / 1024), "maxmemory"}, []string{setMode1, "MemAvailable"}},
		{"redis fork, mode 1 on the host", "redis/bgsave-fork-enomem", host(1),
			[]string{"really out of memory", rules.FormatKB(4 << 20)}, []string{setMode1}},
		{"redis fork, in a pod", "redis/bgsave-fork-enomem", with(host(0), inPod),
			[]string{setMode1, "host-wide", "on the node", "read-only"}, nil},
		{"redis warning, mode 0 on a plain host", "redis/overcommit-warning", host(0),
			[]string{setMode1, persistMode1}, []string{"host-wide"}},
		{"postgres crash, mode 0, limit fits", "postgres/backend-sigkill", with(host(0), postgresToo, captures("pid", "24391", "process", "server process")),
			[]string{"sysctl -w " + strict + " vm.overcommit_memory=2", "/etc/sysctl.d/60-postgresql.conf", "OOMScoreAdjust=-1000", "PG_OOM_ADJUST_VALUE=0", "Killed process 24391 (postgres)"},
			[]string{"already committed", setMode1}},
		{"postgres crash, mode 0, committed past the limit", "postgres/backend-sigkill", with(host(0), func(e *facts.Env) { e.Commit.CommittedKB = recommendedKB + 1 }),
			[]string{"would refuse allocations everywhere", "6.5"}, []string{"sysctl -w " + strict}},
		{"postgres crash, mode 2", "postgres/backend-sigkill", host(2),
			[]string{"Strict overcommit is already on", "cgroup"}, []string{"sysctl -w " + strict}},
		{"postgres crash, settings known", "postgres/backend-sigkill", with(host(2), func(e *facts.Env) {
			e.Postgres = map[string]string{"work_mem": "64MB", "shared_buffers": "4GB", "max_connections": "400"}
		}), []string{"work_mem=64MB", "shared_buffers=4GB", "max_connections=400"}, nil},
		{"postgres crash, in a pod", "postgres/backend-sigkill", with(host(0), inPod),
			[]string{"host-wide", "on the node", rules.FormatBytes(1 << 30)}, nil},
		{"postgres fork, mode 2", "postgres/fork-enomem", host(2),
			[]string{"commit limit refused the fork", strict, "Do not switch to mode 1"}, []string{setMode1}},
		{"postgres out of memory, mode 2", "postgres/out-of-memory", with(host(2), captures("size", "268435456", "context", "ExecutorState")),
			[]string{"as intended", "268435456 bytes", `"ExecutorState"`}, []string{"ulimit -v"}},
		{"postgres out of memory, mode 0", "postgres/out-of-memory", host(0),
			[]string{"ulimit -v", strict}, []string{"as intended", "bytes in memory context"}},
		{"kernel kills postgres, mode 0", "kernel/oom-kill", with(host(0), captures("task", "postgres", "pid", "4321", "constraint", "CONSTRAINT_NONE")),
			[]string{"server process (PID 4321) was terminated by signal 9", "PID 4321", strict, "whole host ran out"}, []string{"memory cgroup limit was hit"}},
		{"kernel kills redis in a pod", "kernel/oom-kill", with(host(1), captures("task", "redis-rdb-bgsav", "pid", "77", "constraint", "CONSTRAINT_MEMCG", "oom_memcg", "/kubepods/pod1")),
			[]string{"A Redis process was killed", "maxmemory", "memory cgroup limit was hit (/kubepods/pod1)"}, []string{"PostgreSQL", "whole host"}},
		{"pids limit", "generic/fork-eagain", with(host(0), captures("pids_cgroup", "/system.slice/app.service")),
			[]string{"/sys/fs/cgroup/system.slice/app.service/pids.current", "TasksMax="}, []string{setMode1}},
		{"fork enomem, strict", "generic/fork-enomem", host(2),
			[]string{"Strict overcommit refused it", strict}, []string{"heuristic"}},
		{"oom invoked, high order", "kernel/oom-invoked", with(host(0), captures("order", "3")),
			[]string{"order-3", "fragmentation", "buddyinfo"}, []string{"single page"}},
		{"systemd stops postgres, mode 0", "systemd/unit-oom-kill", with(host(0), captures("unit", "postgresql@15-main.service")),
			[]string{"OOMPolicy=continue", "systemctl edit postgresql@15-main.service", "no Restart=", "sysctl -w " + strict},
			[]string{"redis-server.service restarts"}},
		{"systemd stops postgres, mode 2", "systemd/unit-oom-kill", with(host(2), captures("unit", "postgresql@15-main.service")),
			[]string{"OOMPolicy=continue"}, []string{strict}},
		{"systemd stops redis", "systemd/unit-oom-kill", with(host(1), captures("unit", "redis-server.service")),
			[]string{"Restart=always", "maxmemory", "systemctl show -p OOMPolicy"}, []string{"crash recovery", strict}},
		{"oomd kills redis on pressure", "systemd/oomd-kill", with(host(0), captures("cgroup", "/system.slice/redis-server.service", "unit", "redis-server.service", "monitored", "/system.slice", "pressure", "65.43", "limit", "60.00", "duration", "30s")),
			[]string{"65.43% against a limit of 60.00% for over 30s", "ManagedOOMPreference=avoid", "ManagedOOMMemoryPressureLimit="}, []string{"swap", setMode1}},
		{"oomd kills on swap", "systemd/oomd-kill", with(host(0), captures("cgroup", "/user.slice/a.scope", "unit", "a.scope", "swap_used", "90", "swap_total", "100", "limit", "90.00")),
			[]string{"swap 90 of 100 used", "does not fit in RAM"}, []string{"ManagedOOMPreference", "pressure on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := advise(t, ruleByID(t, tt.rule), tt.env)
			for _, w := range tt.want {
				require.Contains(t, got, w)
			}
			for _, n := range tt.not {
				require.NotContains(t, got, n)
			}
		})
	}
}

// TestAdviceRendersEverywhere renders every rule's advice on an empty snapshot (a
// failed enrichment) and on full ones: conditions evaluate, templates execute and no
// "<no value>" reaches a receiver.
func TestAdviceRendersEverywhere(t *testing.T) {
	rs, _ := builtinPack(t)
	envs := map[string]facts.Env{
		"empty":       {},
		"mode 0":      host(0),
		"mode 1 pod":  with(host(1), inPod, postgresToo),
		"mode 2 both": with(host(2), postgresToo, memLimit, captures("pid", "1", "task", "postgres", "order", "0")),
	}
	for _, r := range rs {
		for name, env := range envs {
			t.Run(r.ID+"/"+name, func(t *testing.T) {
				text := advise(t, r, env)
				require.NotContains(t, text, "<no value>")
				require.NotContains(t, text, "%!")
			})
		}
	}
}

// TestDeadEndsCarryTheSeedWarnings checks the dead ends every memory rule must warn
// about are present where they belong.
func TestDeadEndsCarryTheSeedWarnings(t *testing.T) {
	tests := []struct{ rule, action, why string }{
		{"redis/bgsave-fork-enomem", "Restart Redis", "does not depend on Redis's configuration"},
		{"redis/bgsave-fork-enomem", "Raise maxmemory", "more likely"},
		{"redis/bgsave-fork-enomem", "Disable swap", "OOM killer comes sooner"},
		{"redis/bgsave-fork-enomem", "inside the Redis container", "read-only"},
		{"postgres/backend-sigkill", "vm.overcommit_memory=1", "invites the OOM killer"},
		{"postgres/backend-sigkill", "Disable swap", "sooner"},
		{"generic/fork-eagain", "overcommit_memory=1", "process-count limit"},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.action, func(t *testing.T) {
			r := ruleByID(t, tt.rule)
			for _, d := range r.DeadEnds {
				if strings.Contains(d.Action, tt.action) {
					require.Contains(t, d.Why, tt.why)
					return
				}
			}
			t.Fatalf("no dead end %q", tt.action)
		})
	}
}

package rules_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Sizes of the host the advice tests describe: 16 GiB of RAM, no hugepages, no swap.
const (
	memTotalKB = 16 << 20
	// baselineKB is usable × 0.8 + min(2 GiB, usable / 10).
	baselineKB = memTotalKB*8/10 + memTotalKB/10
)

// host returns a snapshot of a plain host in the given overcommit mode on Linux 6.1,
// running Redis (pid 812, 6 GiB of private writable memory), with cowbell in a
// systemd service (not a container) and no cgroup limit.
func host(mode int64) facts.Env {
	return facts.Env{Snapshot: facts.Snapshot{
		Host:    "db1",
		Kernel:  facts.Kernel{Release: "6.1.0-21-amd64", Major: 6, Minor: 1},
		VM:      map[string]int64{"overcommit_memory": mode, "overcommit_ratio": 50, "overcommit_kbytes": 0},
		Meminfo: map[string]int64{"MemTotal": memTotalKB, "MemAvailable": 4 << 20, "Committed_AS": 6 << 20},
		Commit: facts.Commit{
			Mode: mode, CommittedKB: 6 << 20, LimitKB: 8 << 20, Ratio: 0.75, HeadroomKB: 2 << 20,
			UsableKB: memTotalKB, RecommendedKbytes: baselineKB,
		},
		THP:       facts.THP{Enabled: "madvise", Defrag: "madvise"},
		Cgroup:    facts.Cgroup{Version: 2, Path: "/system.slice/cowbell.service", LimitBytes: -1},
		Processes: []facts.Process{redisProcess("/system.slice/redis-server.service", -1, 0)},
		Running:   map[string]bool{"redis": true},
	}}
}

func redisProcess(cgroup string, limit, usage int64) facts.Process {
	cg := facts.Cgroup{Version: 2, Path: cgroup, LimitBytes: limit, UsageBytes: usage}
	if limit > 0 {
		cg.UsageRatio = float64(usage) / float64(limit)
	}
	return facts.Process{Name: "redis", Comm: "redis-server", PID: 812, VmRSSKB: 5 << 20,
		VmDataKB: 6 << 20, VmStkKB: 132, ForkChargeKB: 6<<20 + 132, Cgroup: cg,
		InContainer: strings.Contains(cgroup, "kubepods")}
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
	e.Processes = append(e.Processes, facts.Process{Name: "postgres", Comm: "postgres", PID: 901,
		VmDataKB: 160 << 10, ForkChargeKB: 160 << 10, Cgroup: facts.Cgroup{Version: 2, Path: "/system.slice/postgresql@15-main.service", LimitBytes: -1}})
}

func onlyPostgres(e *facts.Env) {
	e.Running, e.Processes = map[string]bool{}, nil
	postgresToo(e)
}

// inPod puts cowbell and Redis in Kubernetes pods, Redis at 98% of its 8 GiB limit.
func inPod(e *facts.Env) {
	e.Container = true
	e.Cgroup = facts.Cgroup{Version: 2, Path: "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-c0.scope", LimitBytes: -1}
	e.Processes = []facts.Process{redisProcess("/kubepods.slice/kubepods-burstable.slice/cri-containerd-r1.scope", 8<<30, 8<<30*98/100)}
}

// memLimit gives Redis's systemd unit a 1 GiB MemoryMax it is at 88% of, with two
// OOM kills so far.
func memLimit(e *facts.Env) {
	p := redisProcess("/system.slice/redis.service", 1<<30, 900<<20)
	p.Cgroup.OOMKill = 2
	e.Processes = []facts.Process{p}
}

func kernel(release string, major, minor int) func(*facts.Env) {
	return func(e *facts.Env) { e.Kernel = facts.Kernel{Release: release, Major: major, Minor: minor} }
}

func captures(kv ...string) func(*facts.Env) {
	return func(e *facts.Env) {
		e.Captures = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Captures[kv[i]] = kv[i+1]
		}
	}
}

// incidentEnv is what the incident builder gives a rule: the snapshot with its host
// recommendation, the target process picked from it, and the diagnosis.
func incidentEnv(r *rules.Rule, env facts.Env) facts.Env {
	s := env.Snapshot
	s.Recommend = enrich.Recommend(s)
	return enrich.NewEnv(s, enrich.TargetFrom(s, r.ID, env.Captures, env.Labels), env.Captures, env.Labels)
}

// advise renders the advice of r that applies on env, as the incident would carry it.
func advise(t *testing.T, r *rules.Rule, env facts.Env) string {
	t.Helper()
	return adviseOn(t, r, incidentEnv(r, env))
}

// adviseOn renders the advice of r that applies on a complete incident env.
func adviseOn(t *testing.T, r *rules.Rule, env facts.Env) string {
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
	persistMode1 = "Persist in /etc/sysctl.d/90-cowbell-overcommit.conf:\n  vm.overcommit_memory = 1"
	setMode2     = "sysctl -w vm.overcommit_memory=2"
)

func TestAdviceFollowsTheSnapshot(t *testing.T) {
	strict := "sysctl -w vm.overcommit_kbytes=" + strconv.FormatInt(baselineKB, 10)
	old := kernel("4.19.0-25-amd64", 4, 19)
	tests := []struct {
		name, rule string
		env        facts.Env
		want, not  []string
	}{
		{"redis fork, mode 0 on 6.1: not the heuristic", "redis/bgsave-fork-enomem", host(0),
			[]string{"mode 0 refuses only a mapping larger than RAM + swap", "did not refuse this fork", "PID namespace", "memory cgroup"},
			[]string{setMode1, "real shortage"}},
		{"redis fork, mode 0 on 4.19: the heuristic, set 1", "redis/bgsave-fork-enomem", with(host(0), old),
			[]string{"before 5.2", setMode1, persistMode1, "Redis documents mode 1"}, []string{strict}},
		{"redis fork, mode 2 alone", "redis/bgsave-fork-enomem", host(2),
			[]string{"Strict mode 2: a fork charges redis-server (pid 812)'s private writable memory (VmData + VmStk: 6.0 GiB)", setMode1, persistMode1},
			[]string{strict, setMode2}},
		{"redis fork, mode 2 beside PostgreSQL", "redis/bgsave-fork-enomem", with(host(2), postgresToo),
			[]string{"sysctl -w vm.overcommit_kbytes=", setMode2, "holds Redis's next fork"}, []string{setMode1}},
		{"redis fork, mode 1 in a limited unit", "redis/bgsave-fork-enomem", with(host(1), memLimit),
			[]string{"did not refuse this fork", "/system.slice/redis.service", rules.FormatBytes(1 << 30)},
			[]string{setMode1, "really out of memory"}},
		{"redis fork, pod at 98% of its limit", "redis/bgsave-fork-enomem", with(host(0), inPod),
			[]string{"98.0%", "whatever the overcommit mode", "raise the container's memory limit"},
			[]string{setMode1, "sysctl -w"}},
		{"redis fork, mode 1 on the host", "redis/bgsave-fork-enomem", host(1),
			[]string{"vm.overcommit_memory is 1, which never refuses", rules.FormatKB(4 << 20)}, []string{setMode1, "really out of memory"}},
		{"redis warning, mode 0 on a plain host", "redis/overcommit-warning", host(0),
			[]string{setMode1, persistMode1}, []string{"host-wide"}},
		{"redis warning, mode 2 beside PostgreSQL (limit in place)", "redis/overcommit-warning", with(host(2), postgresToo, func(e *facts.Env) {
			e.Commit.LimitKB = baselineKB
		}), []string{"it is expected"}, []string{setMode1}},
		{"redis warning in a pod", "redis/overcommit-warning", with(host(0), inPod),
			[]string{setMode1, "on the node", "host-wide"}, nil},
		{"redis THP warning", "redis/thp-warning", with(host(1), func(e *facts.Env) { e.THP.Enabled = "always" }),
			[]string{"disable-thp yes", "echo madvise"}, []string{"2 MiB instead"}},
		{"save child killed on 6.1 with THP always", "redis/fork-child-killed", with(host(1), func(e *facts.Env) { e.THP.Enabled = "always" }),
			nil, []string{"2 MiB"}},
		{"save child killed on 4.19 with THP always", "redis/fork-child-killed", with(host(1), old, func(e *facts.Env) { e.THP.Enabled = "always" }),
			[]string{"before 5.8", "all 2 MiB", "disable-thp"}, nil},
		{"misconf, mode 0", "redis/misconf", host(0), []string{setMode1}, nil},
		{"misconf, mode 1", "redis/misconf", host(1), nil, []string{"sysctl -w"}},
		{"postgres crash, mode 0, limit fits", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("pid", "24391", "process", "server process", "signal", "9")),
			[]string{strict, setMode2, "90-cowbell-overcommit.conf", "OOMScoreAdjust=-1000", "PG_OOM_ADJUST_VALUE=0", "Killed process 24391 (postgres)"},
			[]string{"Do not switch yet", setMode1}},
		{"postgres crash, mode 0, committed past RAM", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("pid", "1", "process", "server process", "signal", "9"), func(e *facts.Env) {
			e.Commit.CommittedKB = memTotalKB + 1
		}), []string{"Do not switch yet", "pooler", "Mode 1 is not the way out"}, []string{strict, setMode1}},
		{"postgres crash, mode 2 already sized", "postgres/backend-sigkill", with(host(2), onlyPostgres, captures("pid", "1", "process", "server process", "signal", "9"), func(e *facts.Env) {
			e.Commit.LimitKB = baselineKB
		}), []string{"Strict overcommit is already on", "does not rule it out"}, []string{setMode2, "did not come from the global overcommit"}},
		{"postmaster killed: crash recovery only", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("recovery", "interrupted")),
			[]string{"postmaster itself died", "last known up at", setMode2, "OOMScoreAdjust=-1000"}, []string{"PID ", "signal ."}},
		{"postgres crash by SIGSEGV", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("pid", "7", "process", "server process", "signal", "11")),
			[]string{"That is a crash, not the OOM killer"}, []string{setMode2, "OOMScoreAdjust"}},
		{"postgres crash, settings unknown", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("pid", "7", "process", "server process", "signal", "9")),
			[]string{"shared_buffers", "work_mem", "max_connections", "pooler", "huge_pages"}, nil},
		{"postgres crash, settings known", "postgres/backend-sigkill", with(host(2), onlyPostgres, captures("pid", "7", "process", "server process", "signal", "9"), func(e *facts.Env) {
			e.Postgres = map[string]string{"work_mem": "64MB", "shared_buffers": "4GB", "max_connections": "400", "huge_pages": "try"}
		}), []string{"work_mem=64MB", "shared_buffers=4GB", "max_connections=400", "huge_pages=try"}, []string{"snapshot.postgres.dsn"}},
		{"postgres crash in a limited cgroup", "postgres/backend-sigkill", with(host(0), onlyPostgres, captures("pid", "7", "process", "server process", "signal", "9"), func(e *facts.Env) {
			e.Processes[0].Cgroup = facts.Cgroup{Version: 2, Path: "/kubepods.slice/pod-pg/cri-containerd-p1.scope", LimitBytes: 4 << 30, UsageBytes: 3 << 30, UsageRatio: 0.75, OOMKill: 1}
			e.Processes[0].InContainer = true
		}), []string{"memory cgroup kills inside its limit", rules.FormatBytes(4 << 30)}, []string{setMode2}},
		{"postgres fork, mode 2", "postgres/fork-enomem", with(host(2), onlyPostgres),
			[]string{"Strict mode 2: a fork charges postgres (pid 901)'s private writable memory", "Keep strict mode"}, []string{setMode1}},
		{"postgres out of memory, mode 2", "postgres/out-of-memory", with(host(2), onlyPostgres, captures("size", "268435456", "context", "ExecutorState")),
			[]string{"as intended", "268435456 bytes", `"ExecutorState"`}, []string{"ulimit -v"}},
		{"postgres out of memory, mode 0", "postgres/out-of-memory", with(host(0), onlyPostgres),
			[]string{"ulimit -v", strict, "pooler"}, []string{"as intended", "bytes in memory context"}},
		{"kernel kills postgres, mode 0", "kernel/oom-kill", with(host(0), onlyPostgres, captures("task", "postgres", "pid", "4321", "constraint", "CONSTRAINT_NONE")),
			[]string{"server process (PID 4321) was terminated by signal 9", strict, "whole host ran out"}, []string{"memory cgroup's limit"}},
		{"kernel kills redis in a pod", "kernel/oom-kill", with(host(1), captures("task", "redis-rdb-bgsav", "pid", "77", "constraint", "CONSTRAINT_MEMCG", "oom_memcg", "/kubepods/pod1")),
			[]string{"A Redis process was killed", "maxmemory", "memory cgroup's limit was hit (/kubepods/pod1)", "does not prevent"},
			[]string{"PostgreSQL", "whole host", "sysctl -w", setMode2, "min_free_kbytes"}},
		{"kernel kills postgres in a memory cgroup, 4.x line", "kernel/oom-kill", with(host(0), onlyPostgres, captures("task", "postgres", "pid", "4321", "scope", "Memory cgroup out of memory")),
			[]string{"memory cgroup's limit was hit"}, []string{"sysctl -w", setMode2}},
		{"pids limit", "generic/fork-eagain", with(host(0), captures("pids_cgroup", "/system.slice/app.service")),
			[]string{"/sys/fs/cgroup/system.slice/app.service/pids.current", "TasksMax="}, []string{setMode1}},
		{"fork enomem, strict", "generic/fork-enomem", host(2),
			[]string{"Strict mode 2"}, []string{"heuristic"}},
		{"oom invoked, order 5", "kernel/oom-invoked", with(host(0), captures("order", "5")),
			[]string{"order-5", "fragmentation", "buddyinfo", "min_free_kbytes"}, []string{"single page"}},
		{"oom invoked, order 2: maybe a memory cgroup", "kernel/oom-invoked", with(host(0), captures("order", "2")),
			[]string{"order-2", "CONSTRAINT_MEMCG", "buddyinfo"}, []string{"min_free_kbytes"}},
		{"oom invoked in a memory cgroup before 5.0", "kernel/oom-invoked", with(host(0), captures("order", "2", "oom_memcg", "/docker/1", "task_memcg", "/docker/1")),
			[]string{"limit of memory cgroup /docker/1"}, []string{"min_free_kbytes", "fragmentation"}},
		{"systemd stops postgres, mode 0", "systemd/unit-oom-kill", with(host(0), onlyPostgres, captures("unit", "postgresql@15-main.service")),
			[]string{"OOMPolicy=continue", "systemctl edit postgresql@15-main.service", "no Restart=", strict},
			[]string{"redis-server.service restarts"}},
		{"systemd stops postgres, mode 2 sized", "systemd/unit-oom-kill", with(host(2), onlyPostgres, captures("unit", "postgresql@15-main.service"), func(e *facts.Env) {
			e.Commit.LimitKB = baselineKB
		}), []string{"OOMPolicy=continue"}, []string{strict}},
		{"systemd stops redis", "systemd/unit-oom-kill", with(host(1), captures("unit", "redis-server.service")),
			[]string{"Restart=always", "maxmemory", "systemctl show -p OOMPolicy"}, []string{"crash recovery", strict}},
		{"oomd kills redis on pressure", "systemd/oomd-kill", with(host(0), captures("cgroup", "/system.slice/redis-server.service", "unit", "redis-server.service", "monitored", "/system.slice", "pressure", "65.43", "limit", "60.00", "duration", "30s")),
			[]string{"65.43% against a limit of 60.00% for over 30s", "ManagedOOMPreference=avoid", "ManagedOOMMemoryPressureLimit="}, []string{"swap", setMode1}},
		{"oomd kills on swap", "systemd/oomd-kill", with(host(0), captures("cgroup", "/user.slice/a.scope", "unit", "a.scope", "swap_used", "90", "swap_total", "100", "limit", "90.00")),
			[]string{"swap 90 of 100 used", "does not fit in RAM"}, []string{"ManagedOOMPreference", "pressure on"}},
		{"replica cannot sync", "redis/replica-sync-refused", host(1),
			[]string{"Look at the master", "plays no part"}, []string{"sysctl -w"}},
		{"dash cannot fork", "generic/fork-failed", host(0),
			[]string{"ulimit -u", "pids.max"}, []string{"sysctl -w"}},
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
		"mode 2 both": with(host(2), memLimit, postgresToo, captures("pid", "1", "task", "postgres", "order", "0")),
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

package enrich

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// matrixHosts is every host kind the advice must be right on: each overcommit mode ×
// what runs × bare host or pods × kernel (before the 5.2 heuristic change, after it,
// a current LTS, 6.5 with its Committed_AS leak) × a small host without swap and a
// large one with swap.
func matrixHosts() []hostSpec {
	var hosts []hostSpec
	for _, mode := range []int64{0, 1, 2} {
		for _, work := range []string{"redis", "postgres", "both"} {
			for _, container := range []bool{false, true} {
				for _, kernel := range []string{"4.19.0-25-amd64", "5.10.0-28-amd64", "6.1.0-21-amd64", "6.5.0-44-generic"} {
					for _, mem := range [][2]int64{{4 << 20, 0}, {64 << 20, 8 << 20}} {
						hosts = append(hosts, hostSpec{mode: mode, work: work, container: container,
							kernel: kernel, ramKB: mem[0], swapKB: mem[1]})
					}
				}
			}
		}
	}
	return hosts
}

// incident is one piece of the matrix: a rule on a host, with the captures and labels
// one of its example lines gives, and the advice it carries.
type incident struct {
	rule   *rules.Rule
	line   string
	env    facts.Env
	advice []Applied
}

var (
	setsMode       = regexp.MustCompile(`overcommit_memory\s*=\s*(\d)|echo\s+(\d)\s*>\s*/proc/sys/vm/overcommit_memory`)
	setsKbytes     = regexp.MustCompile(`overcommit_kbytes\s*=\s*(\d+)`)
	setsHostSysctl = regexp.MustCompile(`sysctl -w|>\s*/proc/sys/|>\s*/sys/kernel/mm/`)
	emptyRendered  = regexp.MustCompile(`\(\s*\)|\s[,.;:]\s|[a-z] {2,}[a-zµ]|\bin :|0 B of 0 B|\b[a-z_]+=\s*$|\b[a-z_]+=[,.)]|=\s+[,.)]|<no value>|%!|PID {2}|PID [,.)]`)
)

// TestAdviceMatrix builds every host kind as a /proc and /sys tree, reads it as the
// enricher does and raises every rule of the built-in pack on it, with the captures
// of each of the rule's example lines. On every host:
//
//   - every piece of advice asking for an overcommit mode or limit asks for the one
//     host recommendation, and Reconcile never has to step in;
//   - where PostgreSQL runs, the recommendation is strict mode 2 with a limit that
//     holds what is committed plus Redis's next fork, and no advice says mode 1;
//   - the limit never exceeds RAM + swap;
//   - a memory cgroup incident never gets a host sysctl without "on the node", nor
//     mode 2 or vm.min_free_kbytes as its fix;
//   - Redis's fork failure in a pod at 98% of its limit is never told to set mode 1;
//   - on a 6.5 kernel with the leak, nothing says to raise overcommit_kbytes;
//   - a probe that does not fire gives no advice (as the pipeline raises none);
//   - every piece of advice cites its documentation and renders no empty value.
func TestAdviceMatrix(t *testing.T) {
	rs, err := rules.Builtin()
	require.NoError(t, err)
	m, err := matcher.New(rs)
	require.NoError(t, err)
	hosts := matrixHosts()
	require.Len(t, hosts, 144)
	forecastsFired := map[string]int{}
	defer func() {
		for _, id := range forecastProbes {
			require.Positive(t, forecastsFired[id], "%s fires on some host of the matrix", id)
		}
	}()
	for _, h := range hosts {
		t.Run(h.String(), func(t *testing.T) {
			root := t.TempDir()
			h.build(t, root)
			e, clk := fixture(t, root)
			fresh(t, e)
			if h.container { // a kill in a database's pod between two samples
				pod := podRedis
				if !h.redis() {
					pod = podPostgres
				}
				h.oomKilled(t, root, pod)
			}
			clk.advance(30 * time.Second)
			s := h.withServices(fresh(t, e))
			require.Empty(t, s.Errors)
			checkRecommendation(t, h, s)
			incs := raiseAll(t, e, m, rs, s, h)
			require.NotEmpty(t, incs)
			for _, inc := range incs {
				checkIncident(t, h, s, inc)
				checkForecast(t, s, inc)
				if slices.Contains(forecastProbes, inc.rule.ID) {
					forecastsFired[inc.rule.ID]++
				}
			}
		})
	}
}

// checkRecommendation checks the host recommendation itself.
func checkRecommendation(t *testing.T, h hostSpec, s facts.Snapshot) {
	t.Helper()
	r := s.Recommend
	require.NotEmpty(t, r.Text)
	require.NotEmpty(t, r.Docs)
	require.Equal(t, h.container, r.OnNode, "a pod's setting is made on the node")
	require.Equal(t, h.leaking(), r.Leak)
	switch {
	case h.postgres():
		require.Equal(t, int64(2), r.Mode, "PostgreSQL runs: strict mode")
		require.Contains(t, r.Docs, DocPostgresOvercommit)
		require.Positive(t, r.OvercommitKbytes)
		if h.redis() {
			require.Equal(t, h.redisDataKB()+132, r.ForkReserveKB, "the next fork charges VmData + VmStk")
			require.Equal(t, h.committedKB()+r.ForkReserveKB, r.NeedKB, "the limit holds everything and the next fork")
		}
		if r.Fits {
			require.GreaterOrEqual(t, r.CommitLimitKB, r.NeedKB)
		}
		require.False(t, r.Fits && h.leaking(), "a leaking counter is not sized for")
	default:
		require.Equal(t, int64(1), r.Mode, "Redis alone: mode 1, as Redis documents")
		require.Contains(t, r.Docs, DocRedisFAQFork)
	}
	require.LessOrEqual(t, r.CommitLimitKB, h.ramKB+h.swapKB, "CommitLimit ≤ RAM + swap")
	require.LessOrEqual(t, s.Commit.RecommendedKbytes, h.ramKB, "the baseline is capped under RAM")
	if r.Leak {
		require.Empty(t, r.Commands, "upgrade or reboot first")
		require.Contains(t, r.Text, "do not raise vm.overcommit_kbytes")
	}
}

// raiseAll raises every rule on s: each probe that fires, and each log rule with the
// captures of every example line it matches (Redis lines also with the tree's own
// Redis pid), labelled as a container's log on a pod host.
func raiseAll(t *testing.T, e *Enricher, m *matcher.Matcher, rs []*rules.Rule, s facts.Snapshot, h hostSpec) []incident {
	t.Helper()
	var labels map[string]string
	if h.container {
		labels = map[string]string{sources.LabelPod: "db-0", sources.LabelContainer: "db", sources.LabelNamespace: "prod"}
	}
	var out []incident
	raise := func(r *rules.Rule, line string, caps map[string]string) {
		tg := e.Target(s, r.ID, caps, labels)
		env := NewEnv(s, tg, caps, labels)
		got := Advise(r, env)
		require.Equal(t, texts(got), texts(Reconcile(got, env)), "%s: the pack's advice never contradicts the host recommendation", r.ID)
		out = append(out, incident{rule: r, line: line, env: env, advice: got})
	}
	for _, r := range rs {
		if r.IsProbe() {
			firing, err := r.Probe.Condition.Eval(facts.Env{Snapshot: s})
			require.NoError(t, err, r.ID)
			if firing {
				raise(r, "probe", nil)
			}
			continue
		}
		lines := append([]string(nil), r.Examples.Match...)
		for _, l := range r.Examples.Match {
			if strings.HasPrefix(l, "1:M ") {
				lines = append(lines, strconv.Itoa(redisPID)+l[1:])
			}
		}
		for _, l := range lines {
			for _, hit := range m.Match(sources.Line{Source: "test", Stream: "/var/log/x.log", Text: l, Labels: labels}, nil) {
				if hit.Rule == r {
					raise(r, l, hit.Captures)
				}
			}
		}
	}
	ids := map[string]bool{}
	for _, inc := range out {
		ids[inc.rule.ID] = true
	}
	if h.leaking() {
		require.True(t, ids["kernel/committed-as-leak"], "one snapshot shows the 6.5 leak")
	} else {
		require.False(t, ids["kernel/committed-as-leak"])
	}
	require.Equal(t, h.container, ids["cgroup/oom-kill-rising"], "the kill in the pod is seen")
	return out
}

// renderedOK holds the advice texts already checked for empty values.
var renderedOK = map[string]bool{}

// killRules are the rules about a process the OOM killer (or another SIGKILL) took.
var killRules = map[string]bool{
	"kernel/oom-kill": true, "kernel/oom-invoked": true, "cgroup/oom-kill-rising": true,
	"redis/fork-child-killed": true, "postgres/backend-sigkill": true, "systemd/unit-oom-kill": true,
}

// checkIncident checks one incident's advice against the host.
func checkIncident(t *testing.T, h hostSpec, s facts.Snapshot, inc incident) {
	t.Helper()
	rec := s.Recommend
	where := inc.rule.ID + " on " + inc.line
	for _, a := range inc.advice {
		text := a.Text
		require.NotEmpty(t, a.Docs, "%s: advice cites its documentation: %q", where, text)
		if !renderedOK[text] { // many hosts render the same text: check it once
			require.False(t, emptyRendered.MatchString(text), "%s: a value rendered empty: %q", where, text)
			renderedOK[text] = true
		}
		for _, mm := range setsMode.FindAllStringSubmatch(text, -1) {
			require.Equal(t, strconv.FormatInt(rec.Mode, 10), mm[1]+mm[2], "%s: one mode per host: %q", where, text)
		}
		for _, mm := range setsKbytes.FindAllStringSubmatch(text, -1) {
			require.Equal(t, strconv.FormatInt(rec.OvercommitKbytes, 10), mm[1], "%s: one limit per host", where)
		}
		if h.postgres() {
			require.NotRegexp(t, `overcommit_memory\s*=\s*1|echo\s+1\s*>`, text, "%s: never mode 1 beside PostgreSQL", where)
		}
		if inc.env.Diag.Memcg && setsHostSysctl.MatchString(text) {
			require.Contains(t, text, "on the node", "%s: a host sysctl for a memory cgroup incident", where)
		}
		if inc.env.Diag.Memcg && killRules[inc.rule.ID] {
			require.NotContains(t, text, "overcommit_memory=2", "%s: mode 2 does not prevent a memory cgroup kill", where)
			require.NotContains(t, text, "min_free_kbytes", "%s", where)
		}
		if h.container && inc.rule.ID == "redis/bgsave-fork-enomem" {
			require.NotContains(t, text, "sysctl -w vm.overcommit_memory=1", "%s: the pod at 98%% of its limit", where)
		}
		if h.leaking() {
			require.NotContains(t, text, "sysctl -w vm.overcommit_kbytes", "%s: the leak is not chased", where)
		}
		require.NotContains(t, text, "really out of memory", where)
		if !kernelBefore(s.Kernel, 5, 8) {
			require.NotContains(t, text, "copies 2 MiB instead", "%s: current kernels split the huge page", where)
		}
	}
	if h.container && h.redis() && inc.rule.ID == "redis/bgsave-fork-enomem" {
		require.Equal(t, facts.ForkMemcg, inc.env.Diag.ForkCause, where)
	}
}

func texts(as []Applied) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Text
	}
	return out
}

// TestLeakOneSnapshot: on a 6.5 kernel with Committed_AS at five times RAM + swap,
// the first snapshot is enough: the leak probe fires at once (it used to wait for an
// hour of samples growing at a rate the leak reaches long after strict mode starts
// refusing allocations), and no advice, the near-limit probe's included, says to
// raise overcommit_kbytes.
func TestLeakOneSnapshot(t *testing.T) {
	h := hostSpec{mode: 2, work: "postgres", kernel: "6.5.0-44-generic", ramKB: 8 << 20, swapKB: 2 << 20}
	root := t.TempDir()
	h.build(t, root)
	e, _ := fixture(t, root)
	s := fresh(t, e)
	require.Equal(t, 1, s.Trend.Samples, "one snapshot")
	require.True(t, s.Commit.LeakSuspected)
	require.True(t, s.Recommend.Leak)
	rs, err := rules.Builtin()
	require.NoError(t, err)
	env := facts.Env{Snapshot: s}
	fired := map[string]bool{}
	for _, r := range rs {
		if !r.IsProbe() {
			continue
		}
		ok, err := r.Probe.Condition.Eval(env)
		require.NoError(t, err)
		if !ok {
			continue
		}
		fired[r.ID] = true
		for _, a := range Advise(r, NewEnv(s, TargetFrom(s, r.ID, nil, nil), nil, nil)) {
			require.NotContains(t, a.Text, "sysctl -w vm.overcommit_kbytes", r.ID)
		}
	}
	require.True(t, fired["kernel/committed-as-leak"])
	require.True(t, fired["host/commit-near-limit"], "Committed_AS is past CommitLimit")
}

// forecastProbes are the built-in forecast probes.
var forecastProbes = []string{"redis/fork-refused-forecast", "redis/save-oom-forecast",
	"postgres/pool-refused-forecast", "host/commit-limit-forecast"}

// withServices gives the host's snapshot what a configured Redis address and
// PostgreSQL DSN would add, and a trend, and forecasts again: Redis's INFO (its last
// save copied three quarters of its data, which a pod at 98% of its limit has no
// room for), PostgreSQL's settings (400 connections of 64 MiB work_mem, more than a
// small host holds), and on a 6.5 kernel the leak's steady climb.
func (h hostSpec) withServices(s facts.Snapshot) facts.Snapshot {
	if h.redis() {
		s.RedisAddr = "127.0.0.1:6379"
		s.Redis = map[string]string{"process_id": strconv.Itoa(redisPID), "rdb_last_cow_size": strconv.FormatInt(h.redisDataKB()*1024*3/4, 10),
			"rdb_last_bgsave_time_sec": "12", "rdb_bgsave_in_progress": "0", "aof_rewrite_in_progress": "0"}
	}
	if h.postgres() {
		s.Postgres = map[string]string{"shared_buffers": "1GB", "max_connections": "400", "work_mem": "64MB",
			"hash_mem_multiplier": "2", "maintenance_work_mem": "256MB", "autovacuum_work_mem": "-1", "autovacuum_max_workers": "3"}
	}
	f := Forecast(s)
	if h.leaking() {
		// Committed_AS climbing 1% of RAM an hour, 2% below the limit.
		f.Commit = commitForecast(s, line{slopePerHour: float64(h.ramKB) / 100,
			nowKB: float64(s.Commit.LimitKB - s.VM["admin_reserve_kbytes"] - h.ramKB/50), samples: 120, ok: true}, 24*time.Hour)
	}
	s.Forecast = f
	return s
}

// checkForecast checks a forecast probe's incident: it fires only on its forecast,
// its first advice is that forecast's arithmetic and names only what will fail, and
// when it quotes the host recommendation it quotes it whole.
func checkForecast(t *testing.T, s facts.Snapshot, inc incident) {
	t.Helper()
	if !slices.Contains(forecastProbes, inc.rule.ID) {
		return
	}
	require.NotEmpty(t, inc.advice, inc.rule.ID)
	first := inc.advice[0].Text
	f := s.Forecast
	switch inc.rule.ID {
	case "redis/fork-refused-forecast":
		require.True(t, f.ForkRefused)
		require.Contains(t, first, "will fail")
		require.NotContains(t, first, "fits")
	case "redis/save-oom-forecast":
		require.True(t, f.SaveOOM)
		require.Contains(t, first, "is likely to be OOM-killed")
		require.NotContains(t, first, " fits")
	case "postgres/pool-refused-forecast":
		require.True(t, f.Postgres.Refused)
		require.Equal(t, f.Postgres.Text, first)
	case "host/commit-limit-forecast":
		require.True(t, f.Commit.WithinLead)
		require.Equal(t, f.Commit.Text, first)
	}
	for _, a := range inc.advice {
		if strings.HasPrefix(a.Text, "Host setting") {
			require.Equal(t, inc.env.Recommend.Text, a.Text, "%s quotes the one host recommendation", inc.rule.ID)
		}
	}
}

package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

const overcommitWarning = "WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect."

// A standing warning resolves when the setting it is about is fixed: Redis's
// overcommit warning pages every vendor, and when the captured /proc tree's
// vm.overcommit_memory becomes 1 the built-in rule's resolve condition resolves it at
// every vendor (PagerDuty resolve, Zenduty resolved, the Slack message edited, the
// webhook's resolved, the Alertmanager alert ended, on a real Alertmanager too).
func TestStandingWarningResolvesAtEveryVendor(t *testing.T) {
	root := copyTree(t, "../enrich/testdata/host")
	overcommit := filepath.Join(root, "proc/sys/vm/overcommit_memory")
	b, err := os.ReadFile(overcommit)
	require.NoError(t, err)
	require.Equal(t, "0", strings.TrimSpace(string(b)), "the tree starts in heuristic mode")
	dir := t.TempDir()
	logFile := emptyFile(t, dir, "redis.log")
	vs := newVendors(t, true)
	runPipeline(t, fmt.Sprintf(`
host: cache-7
state_dir: %s
snapshot: {proc: %q, sys: %q, etc: %q, interval: 20ms, cache_for: 1ms}
sources:
  - {name: redis, type: file, paths: [%q], start_at: beginning, poll_interval: 20ms}
`, filepath.Join(dir, "state"), filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "etc"), logFile)+
		vs.notifiersYAML(`rules: ["redis/overcommit-warning"]`), Options{})

	appendTo(t, logFile, "1:M "+time.Now().UTC().Format("02 Jan 2006 15:04:05.000")+" # "+overcommitWarning)
	key := "redis/overcommit-warning@cache-7/redis/" + logFile // the rule's key names the log (the instance)
	pd := vs.pd.waitFor(t, "pagerduty trigger", func(cs []call) bool { return len(cs) >= 1 })
	require.Equal(t, "trigger", str(pd[0].body, "event_action"))
	require.Equal(t, key, str(pd[0].body, "dedup_key"))
	vs.zd.waitFor(t, "zenduty alert", func(cs []call) bool { return len(cs) >= 1 })
	vs.slack.waitFor(t, "slack message", func(cs []call) bool { return len(cs) >= 1 })
	vs.hook.waitFor(t, "webhook", func(cs []call) bool { return len(cs) >= 1 })
	vs.am.waitFor(t, "alertmanager", func(cs []call) bool { return len(cs) >= 1 })
	vs.waitRealAM(t, key, true)
	require.Equal(t, "warning", str(pd[0].body, "payload", "severity"))

	// The operator fixes the setting; the next snapshot shows it.
	require.NoError(t, os.WriteFile(overcommit, []byte("1\n"), 0o644))

	pd = vs.pd.waitFor(t, "pagerduty resolve", func(cs []call) bool { return len(cs) >= 2 })
	require.Equal(t, "resolve", str(pd[1].body, "event_action"))
	require.Equal(t, key, str(pd[1].body, "dedup_key"))
	zd := vs.zd.waitFor(t, "zenduty resolved", func(cs []call) bool { return len(cs) >= 2 })
	require.Equal(t, "resolved", str(zd[1].body, "alert_type"))
	require.Equal(t, str(zd[0].body, "entity_id"), str(zd[1].body, "entity_id"))
	sl := vs.slack.waitFor(t, "slack update", func(cs []call) bool { return len(cs) >= 3 })
	require.Equal(t, "/api/chat.update", sl[1].path, "the message is edited in place")
	require.Contains(t, sl[1].form.Get("text"), "RESOLVED")
	require.Equal(t, sl[0].form.Get("channel"), "C0TEST")
	hook := vs.hook.waitFor(t, "webhook resolved", func(cs []call) bool { return len(cs) >= 2 })
	require.Equal(t, "resolved", str(hook[1].body, "status"))
	require.NotEmpty(t, str(hook[1].body, "resolved_at"))
	require.Equal(t, "cache-7", str(hook[1].body, "snapshot", "host"), "the snapshot names the incident's host")
	am := vs.am.waitFor(t, "alertmanager end", func(cs []call) bool { return len(cs) >= 2 })
	require.True(t, alertResolved(am[1]))
	vs.waitRealAM(t, key, false)
	require.Empty(t, vs.sink.all(), "nothing else fired on this tree")
}

// kernelOOM is a kernel's report of an OOM kill of PostgreSQL backend 4321, as dmesg
// prints it (no wall-clock stamp: read time).
var kernelOOM = []string{
	"[ 1234.500000] postgres invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
	"[ 1234.567880] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/postgresql@15-main.service,task=postgres,pid=4321,uid=105",
	"[ 1234.567890] Out of memory: Killed process 4321 (postgres) total-vm:4513780kB, anon-rss:3145728kB, file-rss:0kB, shmem-rss:131072kB, UID:105 pgtables:6400kB oom_score_adj:0",
	"[ 1234.600000] oom_reaper: reaped process 4321 (postgres), now anon-rss:0kB, file-rss:0kB, shmem-rss:131072kB",
}

// postgresCrash is PostgreSQL's log of the same kill: the crash restart and recovery.
func postgresCrash(at time.Time) []string {
	stamp := func(d time.Duration) string {
		return at.Add(d).UTC().Format("2006-01-02 15:04:05.000") + " UTC [1234] "
	}
	return []string{
		stamp(0) + "LOG:  server process (PID 4321) was terminated by signal 9: Killed",
		stamp(0) + "DETAIL:  Failed process was running: SELECT * FROM big ORDER BY 1",
		stamp(0) + "LOG:  terminating any other active server processes",
		stamp(time.Second) + "LOG:  all server processes terminated; reinitializing",
		stamp(time.Second) + "LOG:  database system was interrupted; last known up at " + at.Add(-time.Minute).UTC().Format("2006-01-02 15:04:05") + " UTC",
		stamp(time.Second) + "LOG:  database system was not properly shut down; automatic recovery in progress",
		stamp(time.Second) + "LOG:  redo starts at 0/1A2B3C4",
		stamp(2*time.Second) + "LOG:  redo done at 0/1A2B3D0",
		stamp(2*time.Second) + "LOG:  database system is ready to accept connections",
	}
}

// A PostgreSQL backend killed by the OOM killer is one page at every vendor, whichever
// log is read first: the kernel's kill and PostgreSQL's crash restart (both critical
// rules) share one PagerDuty dedup_key, one Zenduty entity, one Slack message with
// its thread, one webhook key and one Alertmanager alert; the page names both lines and
// the cause, and PostgreSQL's recovery resolves it. A kernel line read only after the
// recovery pages nobody.
func TestPostgresOOMKillIsOnePage(t *testing.T) {
	for _, order := range []string{"kernel first", "postgres first", "kernel after the recovery"} {
		t.Run(order, func(t *testing.T) {
			dir := t.TempDir()
			kernelLog, pgLog := emptyFile(t, dir, "kern.log"), emptyFile(t, dir, "postgresql.log")
			root := copyTree(t, "../enrich/testdata/host")
			vs := newVendors(t, false)
			p := runPipeline(t, fmt.Sprintf(`
host: db-1
state_dir: %s
snapshot: {proc: %q, sys: %q, etc: %q}
sources:
  - {name: kernel, type: file, paths: [%q], start_at: beginning, poll_interval: 20ms}
  - {name: postgres, type: file, paths: [%q], start_at: beginning, poll_interval: 20ms}
`, filepath.Join(dir, "state"), filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "etc"), kernelLog, pgLog)+
				vs.notifiersYAML(`severity: [critical]`), Options{})

			crash := postgresCrash(time.Now())
			recovery := crash[len(crash)-1:]
			crash = crash[:len(crash)-1]
			triggers := func(cs []call) int {
				return count(cs, func(c call) bool { return str(c.body, "event_action") == "trigger" })
			}
			waitTriggers := func(n int) { vs.pd.waitFor(t, "triggers", func(cs []call) bool { return triggers(cs) >= n }) }
			switch order {
			case "kernel first":
				appendTo(t, kernelLog, kernelOOM...)
				waitTriggers(1)
				appendTo(t, pgLog, crash...)
				waitTriggers(2)
				appendTo(t, pgLog, recovery...)
			case "postgres first":
				appendTo(t, pgLog, crash...)
				waitTriggers(1)
				appendTo(t, kernelLog, kernelOOM...)
				waitTriggers(2)
				appendTo(t, pgLog, recovery...)
			case "kernel after the recovery":
				appendTo(t, pgLog, append(crash, recovery...)...)
				vs.pd.waitFor(t, "resolve", func(cs []call) bool { return len(cs) >= 2 })
				// The resolve is recorded as delivered (the endpoint answered before
				// the store was told): nothing of the crash is left to send.
				require.Eventually(t, func() bool { return p.out.store.Len("pd") == 0 }, 20*time.Second, 10*time.Millisecond)
				appendTo(t, kernelLog, kernelOOM...)
				// The kernel's lines are decided and delivered: the info-level "invoked
				// oom-killer" of the same batch reached the sink.
				vs.sink.waitFor(t, "kernel/oom-invoked", func(cs []call) bool { return len(cs) >= 1 })
				// Whatever they queued for PagerDuty has gone out once the outbox is empty
				// (the resolve's own entry leaves it once its delivery is recorded): the
				// trigger count below then sees any page they caused.
				require.Eventually(t, func() bool { return p.out.store.Len("pd") == 0 }, 20*time.Second, 5*time.Millisecond,
					"PagerDuty's outbox drains")
			}
			pd := vs.pd.waitFor(t, "the page resolved", func(cs []call) bool {
				return count(cs, func(c call) bool { return str(c.body, "event_action") == "resolve" }) >= 1
			})
			keys := distinct(pd, func(c call) string { return str(c.body, "dedup_key") })
			require.Len(t, keys, 1, "one PagerDuty alert: %v", keys)
			require.Equal(t, "resolve", str(pd[len(pd)-1].body, "event_action"), "PostgreSQL's recovery resolves the page")
			if order == "kernel after the recovery" {
				require.Equal(t, 1, triggers(pd), "the kernel's line came after the event was over")
				return
			}
			require.Equal(t, 2, triggers(pd), "the page and its update")
			update := pd[1].body
			summary := str(update, "payload", "summary")
			t.Logf("PagerDuty summary of the update: %s", summary)
			details := update["payload"].(map[string]any)["custom_details"].(map[string]any)
			related := details["related"].([]any)
			require.Len(t, related, 1, "the page names the other line")
			rel := related[0].(map[string]any)
			if order == "kernel first" {
				require.Equal(t, "postgres/backend-sigkill", rel["rule"])
				require.Contains(t, rel["line"], "server process (PID 4321) was terminated by signal 9")
			} else {
				require.Equal(t, "kernel/oom-kill", rel["rule"])
				// The update is built once the kernel's kill is read. Its report is two
				// lines written together, and under load the loop can commit after the
				// first ("oom-kill:…", the cgroup) before the source sends the second
				// ("Killed process…", the memory): the cause then says what the first
				// line does. Later lines of the kernel's incident fold without a page.
				if strings.Contains(rel["line"].(string), "Killed process") {
					require.Equal(t, "killed by the kernel OOM killer: anon-rss 3145728 kB in cgroup /system.slice/postgresql@15-main.service", rel["cause"])
					require.Contains(t, summary, "Cause: killed by the kernel OOM killer: anon-rss 3145728 kB")
				} else {
					require.Contains(t, rel["line"], "oom-kill:constraint=CONSTRAINT_NONE")
					require.Equal(t, "killed by the kernel OOM killer in cgroup /system.slice/postgresql@15-main.service", rel["cause"])
					require.Contains(t, summary, "Cause: killed by the kernel OOM killer in cgroup /system.slice/postgresql@15-main.service")
				}
			}

			zd := vs.zd.waitFor(t, "zenduty resolved", func(cs []call) bool {
				return count(cs, func(c call) bool { return str(c.body, "alert_type") == "resolved" }) >= 1
			})
			require.Len(t, distinct(zd, func(c call) string { return str(c.body, "entity_id") }), 1)
			require.Equal(t, 2, count(zd, func(c call) bool { return str(c.body, "alert_type") == "critical" }))
			sl := vs.slack.waitFor(t, "slack resolved", func(cs []call) bool {
				return count(cs, func(c call) bool { return c.path == "/api/chat.update" }) >= 1
			})
			top := count(sl, func(c call) bool { return c.path == "/api/chat.postMessage" && c.form.Get("thread_ts") == "" })
			require.Equal(t, 1, top, "one Slack message; the update in its thread")
			hook := vs.hook.waitFor(t, "webhook resolved", func(cs []call) bool {
				return count(cs, func(c call) bool { return str(c.body, "status") == "resolved" }) >= 1
			})
			require.Len(t, distinct(hook, func(c call) string { return str(c.body, "key") }), 1)
			am := vs.am.waitFor(t, "alertmanager resolved", func(cs []call) bool { return count(cs, alertResolved) >= 1 })
			require.Len(t, distinct(am, alertKey), 1, "one Alertmanager alert")
			require.Equal(t, keys[0], alertKey(am[0]))
		})
	}
}

// settable is a clock a test moves; safe for the pipeline's goroutines.
type settable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settable) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settable) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Events cowbell did not see live: a first start at the beginning of a file of
// week-old incident lines pages nothing (they are recorded and counted) and resolves
// nothing; after a restart, lines from 5 minutes ago page, saying when they happened,
// and resolve only after the quiet period counted from when cowbell read them.
func TestBacklogPagesWhatIsStillRelevant(t *testing.T) {
	rig := newFileRig(t, `
- id: test/fork
  title: fork failed
  match: 'app: fork: Cannot allocate memory'
  resolve: ['app: fork succeeded']
  cooldown: 1h
  resolve_after: 2m
`)
	// The first start was 10 minutes ago by the pipeline's clock; the restart is now
	// (the file source trusts no stamp ahead of the real clock).
	wall := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Minute)
	clock := &settable{t: wall}
	stamp := func(at time.Time, msg string) string { return at.Format(time.RFC3339) + " " + msg }
	week := wall.Add(-7 * 24 * time.Hour)
	for _, l := range []string{
		stamp(week, "app: fork: Cannot allocate memory"),
		stamp(week.Add(time.Minute), "app: fork: Cannot allocate memory"),
		stamp(week.Add(5*time.Minute), "app: fork succeeded"),
		stamp(week.Add(24*time.Hour), "app: fork: Cannot allocate memory"),
	} {
		rig.appendLine(t, l)
	}
	start := func(reg *prometheus.Registry) func() {
		ctx, cancel := context.WithCancel(context.Background())
		o := Options{Log: zaptest.NewLogger(t), Now: clock.now}
		if reg != nil {
			o.Registry = reg
		}
		p, err := New(ctx, rig.cfg, o)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return func() {
			cancel()
			require.NoError(t, <-done)
			require.NoError(t, p.Close())
		}
	}

	reg := prometheus.NewRegistry()
	stop := start(reg)
	// Open, resolve and the second opening: recorded and counted, not paged.
	waitCounter(t, reg, "cowbell_incident_events_late_total", 3)
	clock.set(wall.Add(time.Minute)) // a tick or two later: the quiet period has not passed since the read
	waitCounter(t, reg, "cowbell_lines_read_total", 4)
	stop()
	select {
	case inc := <-rig.got:
		t.Fatalf("a week-old line paged: %s %s", inc.Status, inc.Key)
	default:
	}

	// Restarted 10 minutes later; the log gained lines from 5 minutes ago meanwhile.
	wall = time.Now().UTC().Truncate(time.Second)
	clock.set(wall)
	recent := wall.Add(-5 * time.Minute)
	rig.appendLine(t, stamp(recent, "app: fork: Cannot allocate memory"))
	stop = start(nil)
	defer stop()
	open := next(t, rig.got)
	require.Equal(t, incidents.StatusFiring, open.Status)
	require.True(t, recent.Equal(open.LastSeen), "an event of its own time: %v", open.LastSeen)
	require.Contains(t, open.Summary, "read 5 min later")
	require.Equal(t, 2, open.Count, "the week-old hit of the incident still open is counted in")

	// The quiet period counts from the read, not from the line's own time (which would
	// resolve it at once: the line is 5 minutes old, the quiet period 2).
	clock.set(wall.Add(2*time.Minute + time.Second))
	resolved := next(t, rig.got)
	require.Equal(t, incidents.StatusResolved, resolved.Status)
	require.False(t, resolved.ResolvedAt.Before(wall.Add(2*time.Minute)), "resolved at %v, read at %v", resolved.ResolvedAt, wall)
}

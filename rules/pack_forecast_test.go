package rules_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// probeRule returns the built-in probe with id.
func probeRule(t *testing.T, id string) *rules.Rule {
	t.Helper()
	rs, _ := builtinPack(t)
	for _, r := range rs {
		if r.ID == id {
			require.NotNil(t, r.Probe, id)
			return r
		}
	}
	t.Fatalf("no rule %s", id)
	return nil
}

// redisIn starts a redis-server on loopback, inside the memory cgroup cg when it is
// not "", and returns its client, port, pid and log.
func redisIn(t *testing.T, cg string, args ...string) (*redis.Client, int, int, string) {
	t.Helper()
	bin := testenv.NeedBinary(t, "redis-server")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	logPath := filepath.Join(dir, "redis.log")
	argv := append([]string{bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--logfile", logPath, "--save", "", "--appendonly", "no", "--enable-debug-command", "yes"}, args...)
	var cmd *exec.Cmd
	if cg != "" {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg}, argv...)...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	p := start(t, cmd)
	waitLog(t, logPath, "Ready to accept connections", 1)
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), DisableIdentity: true,
		MaxRetries: -1})
	t.Cleanup(func() {
		_ = c.Close()
		_ = p.cmd.Process.Kill()
	})
	return c, port, p.cmd.Process.Pid, logPath
}

// TestRealSaveOOMForecast runs a real redis-server in a memory cgroup with a few
// tens of MiB of room, starts a slow BGSAVE while a writer rewrites its values, and
// evaluates the built-in probe redis/save-oom-forecast on fresh snapshots of this
// host while the save runs: the probe fires, and it fires before the kernel's OOM
// kill in that cgroup (the lead time is logged).
func TestRealSaveOOMForecast(t *testing.T) {
	noLeaks(t)
	testenv.NeedRoot(t)
	cg, limitFile := memoryCgroup(t)
	c, port, pid, logPath := redisIn(t, cg)
	ctx := context.Background()

	// 48 MiB of 4 KiB values; a save that takes about 24 s (1.5 ms a key).
	const keys, size = 12288, 4096
	require.NoError(t, c.Do(ctx, "DEBUG", "POPULATE", keys, "key", size).Err())
	require.NoError(t, c.ConfigSet(ctx, "rdb-key-save-delay", "1500").Err())
	usage := readInt(t, filepath.Join(cg, strings.Replace(limitFile, "limit_in_bytes", "usage_in_bytes", 1)))
	if limitFile == "memory.max" {
		usage = readInt(t, filepath.Join(cg, "memory.current"))
	}
	room := int64(32 << 20)
	require.NoError(t, os.WriteFile(filepath.Join(cg, limitFile), []byte(strconv.FormatInt(usage+room, 10)), 0o644))
	t.Logf("redis-server pid %d: usage %d MiB, limit %d MiB", pid, usage>>20, (usage+room)>>20)

	cfg := enrich.DefaultConfig
	cfg.Redis = &enrich.RedisConfig{Addr: fmt.Sprintf("127.0.0.1:%d", port), Timeout: 2 * time.Second}
	e := enrich.New(cfg, zap.NewNop())
	probe := probeRule(t, "redis/save-oom-forecast")
	s := e.Fresh(ctx)
	fired, err := probe.Probe.Condition.Eval(facts.Env{Snapshot: s})
	require.NoError(t, err)
	require.False(t, fired, "no save runs, none has run: nothing to forecast")

	// The writer rewrites random values at about 1000 a second (4 MiB/s of pages to
	// copy) until the test ends.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, DisableIdentity: true, MaxRetries: -1})
		defer w.Close()
		val := strings.Repeat("w", size)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			pipe := w.Pipeline()
			for range 10 {
				pipe.Set(wctx, "key:"+strconv.Itoa(rand.IntN(keys)), val, 0)
			}
			if _, err := pipe.Exec(wctx); err != nil && wctx.Err() == nil {
				return // Redis is gone: killed
			}
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	oomKills := func() int64 {
		name := "memory.oom_control"
		if limitFile == "memory.max" {
			name = "memory.events"
		}
		b, err := os.ReadFile(filepath.Join(cg, name))
		require.NoError(t, err)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	require.NoError(t, c.BgSave(ctx).Err())
	begun := time.Now()
	var firedAt, killedAt time.Time
	var text string
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for killedAt.IsZero() {
		if oomKills() > 0 {
			killedAt = time.Now()
			break
		}
		if firedAt.IsZero() {
			s := e.Fresh(ctx)
			if ok, _ := probe.Probe.Condition.Eval(facts.Env{Snapshot: s}); ok {
				for _, r := range s.Forecast.Redis {
					if r.PID == pid {
						t.Logf("%v: %s", time.Since(begun).Round(time.Millisecond), r.CowText)
					}
					if r.PID == pid && r.SaveOOM {
						firedAt, text = time.Now(), r.CowText
					}
				}
			}
		}
		select {
		case <-deadline.C:
			t.Fatalf("no OOM kill in %s within %v (forecast fired: %v; log:\n%s)", cg, realTimeout, !firedAt.IsZero(),
				strings.Join(readLines(t, logPath), "\n"))
		case <-tick.C:
		}
	}
	stop()
	require.False(t, firedAt.IsZero(), "the forecast did not fire before the OOM kill")
	require.True(t, firedAt.Before(killedAt))
	require.Contains(t, text, "is forecast to be OOM-killed before it ends")
	require.Contains(t, text, "memory cgroup "+strings.TrimPrefix(cg, "/sys/fs/cgroup/memory"))
	t.Logf("forecast fired %v after BGSAVE, %v before the kernel's OOM kill in the cgroup: %s",
		firedAt.Sub(begun).Round(time.Millisecond), killedAt.Sub(firedAt).Round(time.Millisecond), text)
}

// captureMode2 writes a /proc, /sys and /etc tree under root holding the live
// process pid's own files (comm, status, maps, oom_score_adj, cgroup) and this
// machine's meminfo and vm sysctls, changed to strict mode 2 with CommitLimit set so
// that room(its fork charge) is what __vm_enough_memory leaves that process's fork.
func captureMode2(t *testing.T, root string, pid int, room func(chargeKB int64) int64) {
	t.Helper()
	w := func(rel, content string) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	live := func(path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return string(b)
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	for _, f := range []string{"comm", "status", "maps", "oom_score_adj", "cgroup"} {
		w("proc/"+strconv.Itoa(pid)+"/"+f, live(dir+f))
	}
	vm := map[string]string{}
	for _, k := range []string{"admin_reserve_kbytes", "user_reserve_kbytes", "overcommit_ratio"} {
		vm[k] = strings.TrimSpace(live("/proc/sys/vm/" + k))
	}
	vm["overcommit_memory"], vm["overcommit_kbytes"] = "2", "0"
	for k, v := range vm {
		w("proc/sys/vm/"+k, v+"\n")
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	var status = map[string]int64{}
	admin := num(vm["admin_reserve_kbytes"])
	for _, l := range strings.Split(live(dir+"status"), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.HasSuffix(v, " kB") {
			status[k] = num(strings.TrimSpace(strings.TrimSuffix(v, " kB")))
		}
		if capEff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); ok && k == "CapEff" && err == nil && capEff&(1<<21) != 0 {
			admin = 0 // CAP_SYS_ADMIN: the admin reserve is this process's too
		}
	}
	var committed int64
	var mem []string
	for _, l := range strings.Split(strings.TrimSpace(live("/proc/meminfo")), "\n") {
		k, v, _ := strings.Cut(l, ":")
		if k == "Committed_AS" {
			committed = num(strings.Fields(v)[0])
		}
		if k != "CommitLimit" {
			mem = append(mem, l)
		}
	}
	// allowed = CommitLimit − admin reserve − min(VmSize/32, user reserve); room =
	// allowed − Committed_AS (mm/util.c __vm_enough_memory).
	roomKB := room(status["VmData"] + status["VmStk"])
	limit := committed + roomKB + admin + min(status["VmSize"]/32, num(vm["user_reserve_kbytes"]))
	w("proc/meminfo", strings.Join(append(mem, fmt.Sprintf("CommitLimit: %d kB", limit)), "\n")+"\n")
	for _, f := range []string{"sys/kernel/osrelease", "sys/kernel/hostname", "sys/kernel/random/boot_id"} {
		w("proc/"+f, live("/proc/"+f))
	}
	w("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	w("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
	w("sys/kernel/mm/transparent_hugepage/defrag", "[madvise] never\n")
}

// TestRealForkRefusedForecast: a real redis-server holding some data, its figures
// captured into a strict mode 2 host that leaves its fork half its charge: the
// built-in probe redis/fork-refused-forecast fires with the numbers, before any
// BGSAVE, and not on the same capture with twice the charge left. The BGSAVE that
// follows fails with the kernel's ENOMEM injected on clone(2) by strace, and Redis
// logs the line the pack's log rule pages on. (The capture has no smaps, so the
// charge is VmData + VmStk; TestRealForkRefusedUnderMode2 has the kernel itself
// refuse the fork.)
func TestRealForkRefusedForecast(t *testing.T) {
	noLeaks(t)
	bin := testenv.NeedBinary(t, "redis-server")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	port := testenv.FreePort(t)
	srv := straced(t, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--logfile", logPath,
		"--save", "", "--appendonly", "no", "--enable-debug-command", "yes")
	p := start(t, srv)
	killGroup(t, srv)
	waitLog(t, logPath, "Ready to accept connections", 1)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Do(ctx, "DEBUG", "POPULATE", 100000, "key", 512).Err())
	info, err := c.Info(ctx, "server").Result()
	require.NoError(t, err)
	var pid int
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	require.Positive(t, pid)

	probe := probeRule(t, "redis/fork-refused-forecast")
	forecast := func(roomKB func(chargeKB int64) int64) (facts.Snapshot, facts.RedisForecast, bool) {
		root := t.TempDir()
		captureMode2(t, root, pid, roomKB)
		cfg := enrich.DefaultConfig
		cfg.Proc, cfg.Sys, cfg.Etc = filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "etc")
		cfg.Redis = &enrich.RedisConfig{Addr: addr, Timeout: 2 * time.Second}
		s := enrich.New(cfg, zap.NewNop()).Fresh(ctx)
		require.Equal(t, int64(2), s.Commit.Mode)
		fired, err := probe.Probe.Condition.Eval(facts.Env{Snapshot: s})
		require.NoError(t, err)
		for _, r := range s.Forecast.Redis {
			if r.PID == pid {
				require.Equal(t, addr, r.Addr, "the address's INFO names this process")
				return s, r, fired
			}
		}
		t.Fatalf("no forecast for pid %d: %+v", pid, s.Forecast.Redis)
		return s, facts.RedisForecast{}, false
	}

	s, r, fired := forecast(func(charge int64) int64 { return charge / 2 })
	require.True(t, fired, r.ForkText)
	require.True(t, r.ForkRefused)
	require.Equal(t, r.ForkChargeKB/2, r.ForkRoomKB, "the captured headroom, by the kernel's reserves")
	advice := adviseOn(t, probe, enrich.NewEnv(s, enrich.TargetFrom(s, probe.ID, nil, nil), nil, nil))
	want := fmt.Sprintf("The next BGSAVE or AOF rewrite of %s (redis-server pid %d) will fail: its fork needs %s of commit",
		addr, pid, rules.FormatKB(r.ForkChargeKB))
	require.Contains(t, advice, want)
	require.Contains(t, advice, rules.FormatKB(r.ForkRoomKB)+" is left")
	require.Empty(t, readLinesMatching(t, logPath, "fork"), "the forecast comes before any fork")
	t.Logf("forecast: %s", r.ForkText)

	_, r2, fired := forecast(func(charge int64) int64 { return charge * 2 })
	require.False(t, fired, r2.ForkText)
	require.False(t, r2.ForkRefused)

	// The BGSAVE the forecast was about, with the kernel's ENOMEM injected.
	redisCommand(t, port, "BGSAVE", "-ERR")
	waitLog(t, logPath, "Can't save in background: fork: Cannot allocate memory", 1)
	_, m := builtinPack(t)
	ids, _ := firedBy(m, "redis", readLines(t, logPath))
	require.Equal(t, 1, ids["redis/bgsave-fork-enomem"])

	redisCommand(t, port, "SHUTDOWN NOSAVE", "")
	p.wait(t)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// readLinesMatching returns the lines of path that contain want.
func readLinesMatching(t *testing.T, path, want string) []string {
	t.Helper()
	var out []string
	for _, l := range readLines(t, path) {
		if strings.Contains(l, want) {
			out = append(out, l)
		}
	}
	return out
}

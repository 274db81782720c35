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

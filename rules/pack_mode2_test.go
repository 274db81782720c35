package rules_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// hostVMEnv allows TestRealForkRefusedUnderMode2 to switch this host to strict
// overcommit for about a second. vm.* are host-wide, so `make test` sets it only in a
// step of its own, after the suite, through scripts/host-vm-test.sh, which puts the
// settings back even if the test process is killed.
const hostVMEnv = "COWBELL_TEST_HOST_VM"

// TestRealForkRefusedUnderMode2 is the fork forecast against the kernel itself, on
// this host switched to vm.overcommit_memory=2 for a few seconds. Two real
// redis-servers hold about 700 MiB each: "early" was started before the switch, so
// jemalloc mapped its heap MAP_NORESERVE and the kernel does not account it; "late"
// was started after, and all of its heap is accounted. vm.overcommit_kbytes then
// leaves half of late's charge. cowbell's snapshot of the live /proc forecasts late's
// BGSAVE refused and early's not; the kernel agrees: late's real BGSAVE is refused
// (no injection) and Redis logs the line the pack pages on, early's forks. The host's
// settings are put back right after.
func TestRealForkRefusedUnderMode2(t *testing.T) {
	if os.Getenv(hostVMEnv) != "1" {
		t.Skipf("changes the host's vm.overcommit_*: set %s=1 (make test runs it in a step of its own)", hostVMEnv)
	}
	noLeaks(t)
	testenv.NeedRoot(t)
	ctx := context.Background()
	populate := func(c *redis.Client) {
		require.NoError(t, c.Do(ctx, "DEBUG", "POPULATE", 1_000_000, "key", 512).Err())
	}
	early, earlyPort, earlyPID, earlyLog := redisIn(t, "")
	populate(early)

	mem := meminfoKB(t)
	// CommitLimit = overcommit_kbytes + swap: first room enough to start and fill
	// the second Redis.
	restore := switchToMode2(t, mem["Committed_AS"]+3<<20-mem["SwapTotal"])
	late, latePort, latePID, lateLog := redisIn(t, "")
	populate(late)

	cfg := enrich.DefaultConfig
	cfg.Redis = &enrich.RedisConfig{Addr: fmt.Sprintf("127.0.0.1:%d", latePort), Timeout: 2 * time.Second}
	e := enrich.New(cfg, zap.NewNop())
	forecasts := func() (facts.Snapshot, map[int]facts.RedisForecast) {
		s := e.Fresh(ctx)
		out := map[int]facts.RedisForecast{}
		for _, r := range s.Forecast.Redis {
			out[r.PID] = r
		}
		require.Contains(t, out, earlyPID)
		require.Contains(t, out, latePID)
		return s, out
	}
	_, before := forecasts()
	charge := before[latePID].ForkChargeKB
	require.Greater(t, charge, int64(400<<10), "the populated Redis charges its fork hundreds of MiB")
	mem = meminfoKB(t)
	limit := mem["Committed_AS"] + charge/2 - mem["SwapTotal"]
	if limit <= mem["Committed_AS"]/2 {
		t.Skipf("swap (%d kB) leaves no overcommit_kbytes that refuses this fork", mem["SwapTotal"])
	}
	require.NoError(t, os.WriteFile("/proc/sys/vm/overcommit_kbytes", []byte(strconv.FormatInt(limit, 10)), 0))

	s, f := forecasts()
	require.Equal(t, int64(2), s.Commit.Mode)
	require.True(t, f[latePID].ForkRefused, f[latePID].ForkText)
	require.Equal(t, "smaps", f[latePID].ChargeFrom, "the refusal confirmed by what the kernel accounts")
	require.False(t, f[earlyPID].ForkRefused, f[earlyPID].ForkText)
	require.Equal(t, "smaps", f[earlyPID].ChargeFrom)
	require.Greater(t, f[earlyPID].UnaccountedKB, int64(400<<10), "early's heap is MAP_NORESERVE: %s", f[earlyPID].ForkText)
	probe := probeRule(t, "redis/fork-refused-forecast")
	fired, err := probe.Probe.Condition.Eval(facts.Env{Snapshot: s})
	require.NoError(t, err)
	require.True(t, fired, "the probe on the live host: %s", f[latePID].ForkText)
	require.Empty(t, readLinesMatching(t, lateLog, "fork"), "the forecast comes before any fork")

	redisCommand(t, latePort, "BGSAVE", "-ERR")
	redisCommand(t, earlyPort, "BGSAVE", "+Background saving started")
	waitLog(t, earlyLog, "Background saving terminated with success", 1)
	restore()
	waitLog(t, lateLog, "Can't save in background: fork: Cannot allocate memory", 1)
	_, m := builtinPack(t)
	ids, _ := firedBy(m, "redis", readLines(t, lateLog))
	require.Equal(t, 1, ids["redis/bgsave-fork-enomem"])
	t.Logf("late: %s", f[latePID].ForkText)
	t.Logf("early: %s", f[earlyPID].ForkText)

	// Back in the host's own mode, the same Redis forks.
	redisCommand(t, latePort, "BGSAVE", "+Background saving started")
	waitLog(t, lateLog, "Background saving terminated with success", 1)
}

// switchToMode2 sets vm.overcommit_kbytes to limitKB and vm.overcommit_memory to 2,
// and returns the function that puts the three settings back (also run at cleanup).
func switchToMode2(t *testing.T, limitKB int64) func() {
	t.Helper()
	const vm = "/proc/sys/vm/"
	orig := map[string]string{}
	for _, k := range []string{"overcommit_memory", "overcommit_ratio", "overcommit_kbytes"} {
		orig[k] = strings.TrimSpace(readFile(t, vm+k))
	}
	done := false
	restore := func() {
		if done {
			return
		}
		done = true
		// The mode first, so nothing is refused while the limit changes; ratio and
		// kbytes exclude each other: writing the one that was set clears the other.
		_ = os.WriteFile(vm+"overcommit_memory", []byte(orig["overcommit_memory"]), 0)
		if orig["overcommit_kbytes"] != "0" {
			_ = os.WriteFile(vm+"overcommit_kbytes", []byte(orig["overcommit_kbytes"]), 0)
		} else {
			_ = os.WriteFile(vm+"overcommit_ratio", []byte(orig["overcommit_ratio"]), 0)
		}
	}
	t.Cleanup(restore)
	require.NoError(t, os.WriteFile(vm+"overcommit_kbytes", []byte(strconv.FormatInt(limitKB, 10)), 0))
	require.NoError(t, os.WriteFile(vm+"overcommit_memory", []byte("2"), 0))
	return restore
}

func meminfoKB(t *testing.T) map[string]int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	require.NoError(t, sc.Err())
	return out
}

package enrich

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// errorsOf returns the What of each failed read.
func errorsOf(s facts.Snapshot) map[string]string {
	m := map[string]string{}
	for _, r := range s.Errors {
		m[r.What] = r.Err
	}
	return m
}

func TestRedisInfo(t *testing.T) {
	addr, stop := testenv.Redis(t)
	e, clk := fixture(t, "testdata/host")
	e.c.Redis = &RedisConfig{Addr: addr, Timeout: 5 * time.Second}

	s := fresh(t, e)
	require.Empty(t, s.Errors)
	require.Equal(t, "ok", s.Redis["rdb_last_bgsave_status"])
	for _, f := range []string{"rdb_last_cow_size", "aof_last_cow_size", "latest_fork_usec", "used_memory", "used_memory_rss"} {
		_, err := strconv.ParseInt(s.Redis[f], 10, 64)
		require.NoError(t, err, "INFO field %s = %q", f, s.Redis[f])
	}
	_, err := strconv.ParseFloat(s.Redis["mem_fragmentation_ratio"], 64)
	require.NoError(t, err)
	require.NotEmpty(t, s.Redis["redis_version"])
	require.NotContains(t, s.Redis, "redis_git_sha1", "only the chosen fields are kept")

	stop()
	clk.advance(time.Hour)
	s = e.Snapshot(context.Background())
	require.Nil(t, s.Redis)
	require.Contains(t, errorsOf(s), "redis")
	require.Len(t, s.Errors, 1, "the rest of the snapshot still goes out")
	require.Equal(t, int64(24683664), s.Meminfo["MemTotal"])
}

// TestRedisInstances: each further configured address is asked for INFO, one that does
// not answer is an error of its own, and each answering Redis is forecast once,
// joined to its own process where the live process table shows it (the unit test
// TestForkForecastAddresses checks what its INFO feeds).
func TestRedisInstances(t *testing.T) {
	a, _ := testenv.Redis(t)
	b, _ := testenv.Redis(t)
	c := DefaultConfig
	c.Redis = &RedisConfig{Addr: a, Timeout: 5 * time.Second}
	c.RedisInstances = []RedisConfig{{Addr: b, Timeout: 5 * time.Second}, {Addr: "127.0.0.1:1", Timeout: time.Second}}
	s := fresh(t, New(c, zaptest.NewLogger(t)))

	require.Len(t, s.RedisInstances, 1, "the address that does not answer has no INFO")
	require.Equal(t, b, s.RedisInstances[0].Addr)
	require.Contains(t, errorsOf(s), "redis 127.0.0.1:1")
	require.NotContains(t, errorsOf(s), "redis", "the first address answered")
	pids := map[string]string{a: s.Redis["process_id"], b: s.RedisInstances[0].Info["process_id"]}
	require.NotEqual(t, pids[a], pids[b])
	for addr, pid := range pids {
		var found []facts.RedisForecast
		for _, r := range s.Forecast.Redis {
			if r.Addr == addr {
				found = append(found, r)
			}
		}
		require.Len(t, found, 1, "one forecast of %s", addr)
		r := found[0]
		visible := slices.ContainsFunc(s.Processes, func(p facts.Process) bool { return strconv.Itoa(p.PID) == pid })
		if visible {
			require.Equal(t, pid, strconv.Itoa(r.PID), "%s joined to its own process", addr)
			require.Equal(t, "proc", r.ChargeFrom)
		} else {
			require.Zero(t, r.PID)
			require.Equal(t, "info", r.ChargeFrom)
		}
	}
}

func TestRedisPassword(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    RedisConfig
		want string
	}{
		{"missing password file", RedisConfig{PasswordFile: "/nonexistent/redis-pass"}, "redis password: password_file: read secret file"},
		{"nobody listening", RedisConfig{Password: secret.Secret("hunter2")}, "redis info: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Addr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			tc.c.Timeout = 5 * time.Second
			_, err := readRedis(context.Background(), &tc.c)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestPostgresSettings(t *testing.T) {
	dsn, stop := testenv.Postgres(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600))
	e, clk := fixture(t, "testdata/host")
	e.c.Postgres = &PostgresConfig{DSNFile: dsnFile, Timeout: 5 * time.Second}

	s := fresh(t, e)
	require.Empty(t, s.Errors)
	require.Equal(t, "128MB", s.Postgres["shared_buffers"])
	require.Equal(t, "4MB", s.Postgres["work_mem"])
	require.Equal(t, "64MB", s.Postgres["maintenance_work_mem"])
	require.Equal(t, "100", s.Postgres["max_connections"])
	require.Equal(t, "try", s.Postgres["huge_pages"])
	require.NotEmpty(t, s.Postgres["server_version"])

	stop()
	clk.advance(time.Hour)
	s = e.Snapshot(context.Background())
	require.Nil(t, s.Postgres)
	require.Contains(t, errorsOf(s), "postgres")
	require.Len(t, s.Errors, 1, "the rest of the snapshot still goes out")
}

func TestPostgresBadDSN(t *testing.T) {
	c := PostgresConfig{DSN: "postgres://u:hunter2@[::1", Timeout: time.Second}
	_, err := readPostgres(context.Background(), &c)
	require.EqualError(t, err, "postgres dsn: cannot parse")
}

// TestLiveHost reads this machine, with a Redis and a PostgreSQL running, through the
// default configuration: the processes are found by comm.
func TestLiveHost(t *testing.T) {
	addr, _ := testenv.Redis(t)
	dsn, _ := testenv.Postgres(t)
	c := DefaultConfig
	c.Redis = &RedisConfig{Addr: addr}
	c.Postgres = &PostgresConfig{DSN: secret.Secret(dsn)}
	e := New(c, zaptest.NewLogger(t))
	s := fresh(t, e)
	require.NotContains(t, errorsOf(s), "redis")
	require.NotContains(t, errorsOf(s), "postgres")
	require.Positive(t, s.Meminfo["MemTotal"])
	require.Contains(t, s.VM, "overcommit_memory")
	require.Positive(t, s.Kernel.Major)
	require.True(t, s.Running["redis"])
	require.True(t, s.Running["postgres"])
	var redisRSS int64
	for _, p := range s.Processes {
		if p.Name == "redis" {
			redisRSS = max(redisRSS, p.VmRSSKB)
		}
	}
	require.Positive(t, redisRSS)
}

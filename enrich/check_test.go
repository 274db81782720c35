package enrich

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "dsn")
	require.NoError(t, os.WriteFile(dsn, []byte("postgres://cowbell:s3cret@db:5432/postgres\n"), 0o600))
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("postgres://cowbell:s3cret@db:notaport/x\n"), 0o600))

	ok := Config{Postgres: &PostgresConfig{DSNFile: dsn}, Redis: &RedisConfig{Addr: "127.0.0.1:6379"}}
	require.NoError(t, ok.CheckFiles())

	err := Config{
		Postgres: &PostgresConfig{DSNFile: bad},
		Redis:    &RedisConfig{Addr: "127.0.0.1:6379", PasswordFile: filepath.Join(dir, "missing")},
	}.CheckFiles()
	require.ErrorContains(t, err, "snapshot: redis: password_file: read secret file")
	require.ErrorContains(t, err, "snapshot: postgres: dsn: cannot parse")
	require.NotContains(t, err.Error(), "s3cret", "a DSN holds a password")
	require.ErrorContains(t, Config{Postgres: &PostgresConfig{DSNFile: filepath.Join(dir, "none")}}.CheckFiles(), "dsn_file")
}

// TestCgroupDirStaysBelowRoot: a memory cgroup named by a log line cannot lead the
// snapshot out of the cgroup hierarchy.
func TestCgroupDirStaysBelowRoot(t *testing.T) {
	for path, want := range map[string]string{
		"/kubepods/pod1/c1":           "/sys/fs/cgroup/kubepods/pod1/c1",
		"/../../../etc":               "/sys/fs/cgroup/etc",
		"system.slice/../../../../..": "/sys/fs/cgroup",
	} {
		require.Equal(t, want, cgroupDir("/sys", 2, path), path)
	}
	require.Equal(t, "/sys/fs/cgroup/memory/etc", cgroupDir("/sys", 1, "/../etc"))
}

// TestCgroupV1InsideAContainer: a container on cgroup v1 (no cgroup namespace) sees
// the host's path in /proc/self/cgroup but its own cgroup at the root of
// /sys/fs/cgroup/memory. The snapshot reads that, instead of "no limit".
func TestCgroupV1InsideAContainer(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "proc/self"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc/self/cgroup"),
		[]byte("12:memory:/kubepods/burstable/pod7f3/4c1d9e\n11:pids:/kubepods/burstable/pod7f3/4c1d9e\n0::/\n"), 0o644))
	mem := filepath.Join(root, "sys/fs/cgroup/memory")
	require.NoError(t, os.MkdirAll(mem, 0o755))
	for name, v := range map[string]string{
		"memory.limit_in_bytes": "268435456", "memory.usage_in_bytes": "201326592",
		"memory.max_usage_in_bytes": "260046848", "memory.failcnt": "3",
		"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(mem, name), []byte(v+"\n"), 0o644))
	}
	cg, err := readCgroup(filepath.Join(root, "sys"), filepath.Join(root, "proc/self"))
	require.NoError(t, err)
	require.Equal(t, int64(256<<20), cg.LimitBytes)
	require.Equal(t, int64(192<<20), cg.UsageBytes)
	require.Equal(t, int64(1), cg.OOMKill)
	require.Equal(t, "/kubepods/burstable/pod7f3/4c1d9e", cg.Path)
}

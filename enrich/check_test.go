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

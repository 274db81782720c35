package file

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestConfigUnmarshalYAML(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		var c Config
		require.NoError(t, yaml.Unmarshal([]byte("paths: [/var/log/containers/*.log]\n"), &c))
		want := DefaultConfig
		want.Paths = []string{"/var/log/containers/*.log"}
		require.Equal(t, want, c)
	})
	t.Run("all set", func(t *testing.T) {
		var c Config
		require.NoError(t, yaml.Unmarshal([]byte(`
paths: [/var/log/redis/redis.log]
format: plain
start_at: beginning
max_line_bytes: 1024
flush_timeout: 2s
poll_interval: 100ms
rescan_interval: 30s
max_open_files: 64
rotate_grace: 10s
docker_root: /host/docker/containers
follow_roots: [/var/log/pods]
exclude: ['*.1', '*.old']
`), &c))
		require.Equal(t, Config{
			Paths: []string{"/var/log/redis/redis.log"}, Exclude: []string{"*.1", "*.old"}, Format: FormatPlain, StartAt: "beginning",
			MaxLineBytes: 1024, FlushTimeout: 2 * time.Second, PollInterval: 100 * time.Millisecond,
			RescanInterval: 30 * time.Second, MaxOpenFiles: 64, FollowRoots: []string{"/var/log/pods"},
			RotateGrace: 10 * time.Second, DockerRoot: "/host/docker/containers",
		}, c)
	})
	for _, tc := range []struct {
		name, in, want string
		line, col      int
	}{
		{"unknown field", "paths: [a]\nstart_from: end\n", `unknown field "start_from"`, 2, 1},
		{"no paths", "format: cri\n", "paths: at least one path is required", 1, 1},
		{"bad format", "paths: [a]\nformat: json\n", `format: unknown format "json"`, 2, 9},
		{"bad start_at", "paths: [a]\nstart_at: middle\n", `start_at: unknown value "middle"`, 2, 11},
		{"line cap too small", "paths: [a]\nmax_line_bytes: 10\n", "max_line_bytes: 10 is outside", 2, 17},
		{"zero flush", "paths: [a]\nflush_timeout: 0s\n", "flush_timeout: must be positive", 2, 16},
		{"bad glob", "paths: ['/var/log/[a.log']\n", `paths: pattern "/var/log/[a.log"`, 1, 8},
		{"bad duration", "paths: [a]\npoll_interval: soon\n", "", 2, 0},
		{"bad time zone", "paths: [a]\ntime_zone: Mars/Olympus\n", `time_zone: "Mars/Olympus"`, 2, 12},
		{"bad exclude", "paths: [a]\nexclude: ['[x']\n", `exclude: pattern "[x"`, 2, 10},
		{"zero rescan", "paths: [a]\nrescan_interval: 0s\n", "rescan_interval: must be positive", 2, 18},
		{"too few open files", "paths: [a]\nmax_open_files: 1\n", "max_open_files: 1 is less than 4", 2, 17},
		{"follow_roots pattern", "paths: [a]\nfollow_roots: ['/var/log/*']\n", `follow_roots: "/var/log/*" is not a directory path`, 2, 15},
		{"exclude with a directory", "paths: [a]\nexclude: [/var/log/x.gz]\n", `exclude: "/var/log/x.gz" is not a file name pattern`, 2, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tc.in), &c)
			require.Error(t, err)
			var pe *yamlpos.Error
			require.True(t, errors.As(err, &pe), "%T %v", err, err)
			require.Equal(t, tc.line, pe.Line, err.Error())
			if tc.col > 0 {
				require.Equal(t, tc.col, pe.Column, err.Error())
			}
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNew(t *testing.T) {
	s, err := New(Config{Paths: []string{"/var/log/redis/*.log"}}, sources.Deps{Name: "redis", Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	require.Equal(t, "redis", s.Name())
	require.Equal(t, DefaultConfig.PollInterval, s.cfg.PollInterval)
	require.Equal(t, DefaultConfig.RotateGrace, s.cfg.RotateGrace)

	_, err = New(Config{}, sources.Deps{Name: "redis", Log: zaptest.NewLogger(t)})
	require.ErrorContains(t, err, `file source "redis": paths: at least one path is required`)
}

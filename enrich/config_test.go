package enrich

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

func TestConfigUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    func(c *Config)
		wantErr string
	}{
		{name: "defaults", yaml: "{}", want: func(*Config) {}},
		{
			name: "sidecar roots and services",
			yaml: "proc: /host/proc\nsys: /host/sys\netc: /host/etc\ncache_for: 2s\n" +
				"redis: {addr: 127.0.0.1:6379, password_file: /run/secrets/redis}\n" +
				"postgres: {dsn: postgres://u@db/postgres, timeout: 500ms}\n",
			want: func(c *Config) {
				c.Proc, c.Sys, c.Etc, c.CacheFor = "/host/proc", "/host/sys", "/host/etc", 2*time.Second
				c.Redis = &RedisConfig{Addr: "127.0.0.1:6379", PasswordFile: "/run/secrets/redis", Timeout: 2 * time.Second}
				c.Postgres = &PostgresConfig{DSN: "postgres://u@db/postgres", Timeout: 500 * time.Millisecond}
			},
		},
		{
			name: "own targets",
			yaml: "targets: [{name: valkey, comm: [valkey-server]}]",
			want: func(c *Config) { c.Targets = []Target{{Name: "valkey", Comm: []string{"valkey-server"}}} },
		},
		{
			name: "further Redis instances",
			yaml: "redis: {addr: 127.0.0.1:6379}\nredis_instances: [{addr: 127.0.0.1:6380}, {addr: '[::1]:6381', timeout: 1s}]\n",
			want: func(c *Config) {
				c.Redis = &RedisConfig{Addr: "127.0.0.1:6379", Timeout: 2 * time.Second}
				c.RedisInstances = []RedisConfig{{Addr: "127.0.0.1:6380", Timeout: 2 * time.Second}, {Addr: "[::1]:6381", Timeout: time.Second}}
			},
		},
		{name: "an instance without addr", yaml: "redis_instances: [{addr: a}, {password: x}]",
			wantErr: "1:1: redis_instances[1]: addr is required"},
		{name: "unknown field", yaml: "prco: /x", wantErr: `1:1: unknown field "prco"`},
		{name: "nested unknown field", yaml: "redis: {adr: x}", wantErr: `1:9: redis: unknown field "adr"`},
		{name: "redis without addr", yaml: "redis: {password: x}", wantErr: "1:1: redis: addr is required"},
		{name: "both passwords", yaml: "redis: {addr: a, password: x, password_file: y}",
			wantErr: "1:1: redis: only one of password and password_file may be set"},
		{name: "postgres without dsn", yaml: "postgres: {timeout: 1s}",
			wantErr: "1:1: postgres: exactly one of dsn and dsn_file is required"},
		{name: "zero interval", yaml: "interval: 0s", wantErr: "1:1: interval: must be positive"},
		{name: "duplicate target", yaml: "targets: [{name: a, comm: [x]}, {name: a, comm: [y]}]",
			wantErr: `1:1: targets[1]: duplicate name "a"`},
		{name: "target without comm", yaml: "targets: [{name: a}]", wantErr: "1:1: targets[0]: comm is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tc.yaml), &c)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				var pe *yamlpos.Error
				require.True(t, errors.As(err, &pe), "a positioned error")
				return
			}
			require.NoError(t, err)
			want := DefaultConfig
			tc.want(&want)
			require.Equal(t, want, c)
		})
	}
}

func TestConfigDoesNotShareDefaults(t *testing.T) {
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte("{}"), &c))
	c.Targets[0].Name = "changed"
	require.Equal(t, "redis", DefaultConfig.Targets[0].Name)
}

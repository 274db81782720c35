package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers/webhook"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/journald"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseFull(t *testing.T) {
	c, err := Parse("cowbell.yaml", []byte(`
host: db-1
state_dir: /var/lib/cowbell
rules: {builtin: false, paths: [/etc/cowbell/rules.d], default_cooldown: 5m}
incidents: {max_age: 6h}
snapshot: {proc: /host/proc, interval: 10s}
sources:
  - name: redis
    type: file
    paths: [/var/log/redis/*.log]
    start_at: beginning
  - name: journal
    type: journald
    transports: [kernel]
  - name: kernel
    type: kmsg
notifiers:
  - name: out
    type: console
  - name: hook
    type: webhook
    url: ${HOOK_URL}
routes:
  - severity: [critical]
    notifiers: [hook]
default_notifiers: [out]
metrics: {listen: 127.0.0.1:9464}
log: {level: debug, format: json}
`), env(map[string]string{"HOOK_URL": "https://example.invalid/hook/secret"}))
	require.NoError(t, err)
	require.Equal(t, "db-1", c.Host)
	require.False(t, c.Rules.Builtin)
	require.Equal(t, "5m0s", c.Rules.DefaultCooldown.String())
	require.Equal(t, "6h0m0s", c.Incidents.MaxAge.String())
	require.Equal(t, "/host/proc", c.Snapshot.Proc)
	require.Len(t, c.Sources, 3)
	require.Equal(t, []string{"/var/log/redis/*.log"}, c.Sources[0].Config.(file.Config).Paths)
	require.Equal(t, "beginning", c.Sources[0].Config.(file.Config).StartAt)
	require.Equal(t, []string{"kernel"}, c.Sources[1].Config.(journald.Config).Transports)
	require.Equal(t, "https://example.invalid/hook/secret", c.Notifiers[1].Config.(webhook.Config).URL.Reveal())
	require.Equal(t, []string{"out"}, c.Default)
	require.Equal(t, "json", c.Log.Format)
}

func TestParseErrorsNameTheirPlace(t *testing.T) {
	cases := []struct {
		name, doc string
		line      int
		want      string
	}{
		{"unknown top-level key", "hots: x\n", 1, `unknown field "hots"`},
		{"unknown nested key", "rules:\n  builtin: true\n  pathz: []\n", 3, `unknown field "pathz"`},
		{"unknown source key", "sources:\n  - name: r\n    type: file\n    paths: [a]\n    pahts: [b]\n", 5, `source "r"`},
		{"unknown source type", "sources:\n  - name: r\n    type: tail\n", 3, `unknown type "tail"`},
		{"source without name", "sources:\n  - type: file\n    paths: [a]\n", 2, "name is required"},
		{"duplicate source", "sources:\n  - {name: r, type: file, paths: [a]}\n  - {name: r, type: file, paths: [b]}\n", 3, "duplicate name"},
		{"unknown notifier key", "notifiers:\n  - name: o\n    type: console\n    colour: true\n", 4, `notifier "o"`},
		{"route to unknown notifier", "notifiers:\n  - {name: o, type: console}\nroutes:\n  - {notifiers: [pager]}\n", 4, `unknown notifier "pager"`},
		{"unset env", "notifiers:\n  - name: h\n    type: webhook\n    url: ${NOPE}\n", 4, "NOPE is not set"},
		{"bad log level", "log: {level: loud}\n", 1, "level"},
		{"negative max_age", "host: h\nincidents: {max_age: -1h}\n", 2, "incidents: max_age must not be negative"},
		{"unknown incidents key", "incidents:\n  maxage: 1h\n", 2, `unknown field "maxage"`},
		{"negative trim", "host: h\nmemory:\n  trim_after: -1m\n", 3, "memory: trim_after must not be negative"},
		{"bad yaml", "sources: [\n", 1, "did not find expected node content"},
		{"wrong type", "rules: {builtin: maybe}\n", 1, "bool"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("cowbell.yaml", []byte(c.doc), env(nil))
			require.Error(t, err)
			var pe *yamlpos.Error
			require.True(t, errors.As(err, &pe), "not positioned: %v", err)
			require.Equal(t, "cowbell.yaml", pe.File, "%v", err)
			require.Equal(t, c.line, pe.Line, "%v", err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse("empty.yaml", nil, env(nil))
	require.NoError(t, err)
	require.True(t, c.Rules.Builtin)
	require.Equal(t, "empty.yaml", c.File)
	require.Equal(t, time.Hour, c.Incidents.MaxAge, "a backlog line older than an hour is recorded, not paged")
	require.Equal(t, Memory{TrimAfter: 15 * time.Second}, c.Memory)
}

func TestExpandLeavesLoneDollars(t *testing.T) {
	c, err := Parse("c.yaml", []byte("notifiers: [{name: o, type: console}]\nroutes:\n  - labels: {container: 'redis$'}\n    notifiers: [o]\n"), env(nil))
	require.NoError(t, err)
	require.Equal(t, "redis$", c.Routes[0].Labels["container"])
}

func TestDefaults(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		full := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, nil, 0o644))
	}
	mk("var/log/redis/redis-server.log")
	mk("var/log/containers/redis-0_cache_redis-abc.log")
	mk("run/log/journal/x/system.journal")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "var/log/postgresql"), 0o755)) // empty: still watched
	getenv := func(k string) string { return map[string]string{"STATE_DIRECTORY": "/state/cowbell"}[k] }
	c := Defaults(Probe{Root: root, Getenv: getenv, Euid: 1000, HomeDir: "/home/u"})
	require.Equal(t, "/state/cowbell", c.StateDir)
	var names []string
	for _, s := range c.Sources {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"redis", "postgres", "containers", "journal"}, names)
	require.Equal(t, []string{filepath.Join(root, "var/log/postgresql/*.log")}, c.Sources[1].Config.(file.Config).Paths)
	require.Equal(t, []string{filepath.Join(root, "run/log/journal")}, c.Sources[3].Config.(journald.Config).Directories)
	require.Len(t, c.Notifiers, 1)
	require.Equal(t, "console", c.Notifiers[0].Type)

	bare := Defaults(Probe{Root: t.TempDir(), Getenv: func(string) string { return "" }, Euid: 1000, HomeDir: "/home/u"})
	require.Empty(t, bare.Sources)
	require.Equal(t, "/home/u/.local/state/cowbell", bare.StateDir)
	rootUser := Defaults(Probe{Root: "", Getenv: func(string) string { return "" }, Euid: 0})
	require.Equal(t, "/var/lib/cowbell", rootUser.StateDir)
}

package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func sample() *incidents.Incident {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &incidents.Incident{
		Schema: incidents.Schema, Status: incidents.StatusFiring, Key: "redis/bgsave-fork-enomem/node-1",
		Rule:    incidents.RuleRef{ID: "redis/bgsave-fork-enomem", Title: "Redis cannot fork for BGSAVE", Severity: "critical"},
		Summary: "Redis cannot fork for BGSAVE on node-1", Host: "node-1", Source: "redis",
		Labels: map[string]string{"pod": "redis-0", "namespace": "prod"},
		Lines: []incidents.Line{
			{Time: t0, Text: "1:M 01 Mar 2025 12:00:00.000 # Can't save in background: fork: Cannot allocate memory"},
			{Time: t0.Add(2 * time.Minute), Text: "1:M 01 Mar 2025 12:02:00.000 # Can't save in background: fork: Cannot allocate memory"},
		},
		Count: 3, Folded: 2, FirstSeen: t0, LastSeen: t0.Add(2 * time.Minute),
		RootCause: "Redis forks a child for BGSAVE.\nUnder heuristic overcommit the kernel refuses a fork it cannot cover.",
		Advice: []incidents.Advice{
			{Text: "Set vm.overcommit_memory=1 on the host: sysctl -w vm.overcommit_memory=1",
				When: "vm.overcommit_memory != 1", Facts: map[string]string{"vm.overcommit_memory": "0"}},
			{Text: "Committed_AS is 19.1 GiB of a 7.8 GiB CommitLimit."},
		},
		DeadEnds: []incidents.DeadEnd{{Action: "Disable swap", Why: "swap is a buffer; without it the OOM killer comes sooner"}},
		Docs:     []string{"https://redis.io/docs/latest/operate/oss_and_stack/management/admin/"},
		Snapshot: &facts.Snapshot{
			Taken: t0.Add(2 * time.Minute), Host: "node-1",
			Meminfo: map[string]int64{"MemTotal": 16 << 20, "MemAvailable": 512 << 10},
			Commit:  facts.Commit{Mode: 0, CommittedKB: 20000000, LimitKB: 8192000, Ratio: 2.44},
			THP:     facts.THP{Enabled: "always", Defrag: "madvise"},
			Cgroup:  facts.Cgroup{Version: 2, LimitBytes: 4 << 30, UsageBytes: 3 << 30, UsageRatio: 0.75},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	resolved := sample()
	at := resolved.LastSeen.Add(10 * time.Minute)
	resolved.Status, resolved.ResolvedAt = incidents.StatusResolved, &at
	resolved.Snapshot.Cgroup = facts.Cgroup{Version: 1, LimitBytes: -1, UsageBytes: 700 << 20}
	resolved.Snapshot.Errors = []facts.ReadError{{What: "redis", Err: "dial tcp 127.0.0.1:6379: connection refused"}}

	hostile := sample()
	hostile.Snapshot = nil
	hostile.Lines = []incidents.Line{{Time: hostile.FirstSeen, Text: "evil \x1b[2J\x1b]0;title\x07 line\rover"}}
	hostile.Labels = map[string]string{"pod": "a\nb"}

	tests := []struct {
		name  string
		inc   *incidents.Incident
		color bool
	}{
		{"firing", sample(), false},
		{"firing-color", sample(), true},
		{"resolved", resolved, false},
		{"test", notifiers.TestIncident("node-1", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), false},
		{"control-characters", hostile, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			retry, err := To(Config{Color: tt.color}, &out).Notify(context.Background(), tt.inc)
			require.NoError(t, err)
			require.False(t, retry)
			notifierstest.Golden(t, filepath.Join("testdata", tt.name+".golden"), out.Bytes())
			if !tt.color {
				require.NotContains(t, out.String(), "\x1b", "no escape sequence without colour")
			}
		})
	}
}

func TestRenderSays(t *testing.T) {
	var out bytes.Buffer
	n, err := New(DefaultConfig, notifiers.Deps{Stdout: &out})
	require.NoError(t, err)
	resolved := sample()
	resolved.Status = incidents.StatusResolved
	for _, inc := range []*incidents.Incident{sample(), resolved} {
		_, err := n.Notify(context.Background(), inc)
		require.NoError(t, err)
	}
	first, second, ok := strings.Cut(out.String(), "\n\n")
	require.True(t, ok, "incidents are separated by a blank line")
	require.True(t, strings.HasPrefix(first, "[CRITICAL] Redis cannot fork for BGSAVE"))
	require.True(t, strings.HasPrefix(second, "RESOLVED [CRITICAL]"))
	for _, want := range []string{
		"vm.overcommit_memory: 0 (heuristic)", "Committed_AS / CommitLimit: 19.1 GiB / 7.8 GiB (244%)",
		"MemAvailable: 512.0 MiB of 16.0 GiB", "cgroup v2: 3.0 GiB used of 4.0 GiB (75%)",
		"transparent hugepages: enabled=always defrag=madvise", "- Disable swap: swap is a buffer",
		"because vm.overcommit_memory != 1 (vm.overcommit_memory=0)", "Can't save in background",
	} {
		require.Contains(t, first, want)
	}
}

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	n := To(Config{JSON: true}, &out)
	for _, inc := range []*incidents.Incident{sample(), notifiers.TestIncident("h", time.Unix(0, 0))} {
		_, err := n.Notify(context.Background(), inc)
		require.NoError(t, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	var back incidents.Incident
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &back))
	want := sample()
	require.Equal(t, want.Key, back.Key)
	require.Equal(t, want.Snapshot.Commit, back.Snapshot.Commit)
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteErrorIsNotRetried(t *testing.T) {
	retry, err := To(DefaultConfig, brokenWriter{}).Notify(context.Background(), sample())
	require.ErrorContains(t, err, "broken pipe")
	require.False(t, retry)
}

func TestConfigYAML(t *testing.T) {
	tests := []struct {
		yaml    string
		want    Config
		wantErr string
	}{
		{"{}", Config{Output: "stdout"}, ""},
		{"output: stderr\ncolor: true\n", Config{Output: "stderr", Color: true}, ""},
		{"json: true\n", Config{Output: "stdout", JSON: true}, ""},
		{"output: syslog\n", Config{}, "1:9: output \"syslog\": want stdout or stderr"},
		{"colour: true\n", Config{}, "1:1: unknown field \"colour\""},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			var got Config
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, os.Stderr, Config{Output: "stderr"}.Writer())
	require.Equal(t, os.Stdout, DefaultConfig.Writer())
}

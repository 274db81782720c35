package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

func TestConditionEval(t *testing.T) {
	env := facts.Env{Captures: map[string]string{"comm": "redis-server"}}
	env.VM = map[string]int64{"overcommit_memory": 2}
	env.Commit = facts.Commit{Mode: 2, Ratio: 0.95}
	env.Running = map[string]bool{"redis": true}
	env.Kernel.Major = 6

	tests := []struct {
		src  string
		want bool
	}{
		{"vm.overcommit_memory != 1", true},
		{"commit.mode == 2 && commit.ratio >= 0.9", true},
		{"commit.ratio < 0.9", false},
		{"running.redis && !running.postgres", true},
		{`captures.comm == "redis-server"`, true},
		{`labels.container == "redis"`, false},
		{"kernel.major >= 6 && meminfo.Committed_AS == 0", true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			c, err := compileCondition(tt.src)
			require.NoError(t, err)
			got, err := c.Eval(env)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("nil holds", func(t *testing.T) {
		var c *Condition
		ok, err := c.Eval(env)
		require.NoError(t, err)
		require.True(t, ok)
	})
	t.Run("runtime error", func(t *testing.T) {
		c, err := compileCondition("processes[3].pid > 0")
		require.NoError(t, err)
		_, err = c.Eval(env)
		require.ErrorContains(t, err, `evaluate "processes[3].pid > 0"`)
	})
}

func TestTextExecute(t *testing.T) {
	env := facts.Env{Captures: map[string]string{"pid": "42"}}
	env.VM = map[string]int64{"overcommit_ratio": 50}
	env.Commit = facts.Commit{RecommendedKbytes: 14_680_064, Ratio: 0.925}
	env.Cgroup.LimitBytes = 512 << 20

	tests := []struct{ src, want string }{
		{"plain", "plain"},
		{"{{.Commit.RecommendedKbytes}}", "14680064"},
		{`{{index .VM "overcommit_ratio"}}`, "50"},
		{"pid {{.Captures.pid}}", "pid 42"},
		{"[{{.Captures.missing}}]", "[]"},
		{"{{kb .Commit.RecommendedKbytes}}", "14.0 GiB"},
		{"{{bytes .Cgroup.LimitBytes}}", "512.0 MiB"},
		{"{{pct .Commit.Ratio}}", "92.5%"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			txt, err := compileText(tt.src)
			require.NoError(t, err)
			got, err := txt.Execute(env)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("nil renders empty", func(t *testing.T) {
		var txt *Text
		got, err := txt.Execute(env)
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("runtime error", func(t *testing.T) {
		txt, err := compileText("{{if .Processes}}{{(index .Processes 5).PID}}{{end}}")
		require.NoError(t, err, "the empty snapshot has no processes, so this passes at load")
		withProc := env
		withProc.Processes = []facts.Process{{PID: 1}}
		_, err = txt.Execute(withProc)
		require.ErrorContains(t, err, "render advice")
	})
}

func TestKeyExecute(t *testing.T) {
	d := KeyData{
		Rule: "kernel/oom-kill", Host: "h1", Node: "m1/b1", Source: "kernel",
		Captures: map[string]string{"comm": "redis"}, Labels: map[string]string{"pod": "p-0"},
	}
	tests := []struct{ src, want string }{
		{defaultKey, "kernel/oom-kill@h1"},
		{defaultProbeKey, "kernel/oom-kill@m1/b1"},
		{"{{.Rule}}/{{.Source}}/{{.Captures.comm}}/{{.Labels.pod}}", "kernel/oom-kill/kernel/redis/p-0"},
		{"{{.Rule}}/{{.Captures.pid}}", "kernel/oom-kill/"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			k, err := compileKey(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.want, k.Execute(d))
		})
	}
	t.Run("nil is the default key", func(t *testing.T) {
		var k *KeyTemplate
		require.Equal(t, "kernel/oom-kill@h1", k.Execute(d))
	})
	t.Run("a failing template falls back to the default key", func(t *testing.T) {
		k, err := compileKey(`{{if .Captures}}{{index .Captures.comm 9}}{{end}}`)
		require.NoError(t, err)
		require.Equal(t, "kernel/oom-kill@h1", k.Execute(d))
	})
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"bytes small", FormatBytes(512), "512 B"},
		{"bytes zero", FormatBytes(0), "0 B"},
		{"bytes KiB", FormatBytes(1536), "1.5 KiB"},
		{"bytes exact MiB", FormatBytes(1 << 20), "1.0 MiB"},
		{"bytes just under MiB", FormatBytes(1<<20 - 1), "1.0 MiB"},
		{"bytes negative", FormatBytes(-3 << 30), "-3.0 GiB"},
		{"bytes max", FormatBytes(1<<63 - 1), "8.0 EiB"},
		{"kb GiB", FormatKB(3_355_443), "3.2 GiB"},
		{"kb TiB", FormatKB(2 << 30), "2.0 TiB"},
		{"pct", FormatPct(0.925), "92.5%"},
		{"pct over", FormatPct(1.5), "150.0%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got)
		})
	}
}

func BenchmarkBuiltin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Builtin(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConditionEval(b *testing.B) {
	c, err := compileCondition("commit.mode == 2 && commit.ratio >= 0.9 && vm.overcommit_memory != 1")
	if err != nil {
		b.Fatal(err)
	}
	env := facts.Env{}
	env.Commit = facts.Commit{Mode: 2, Ratio: 0.95}
	env.VM = map[string]int64{"overcommit_memory": 2}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := c.Eval(env); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkKeyExecute(b *testing.B) {
	k, err := compileKey("{{.Rule}}/{{.Host}}/{{.Captures.pid}}")
	if err != nil {
		b.Fatal(err)
	}
	d := KeyData{Rule: "kernel/oom-kill", Host: "h1", Captures: map[string]string{"pid": "42"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Execute(d)
	}
}

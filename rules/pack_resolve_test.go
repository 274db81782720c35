package rules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// The standing warnings of the pack resolve when a snapshot shows what they warn of
// fixed, and not while it is not (nor when the fact could not be read).
func TestPackResolveConditions(t *testing.T) {
	rs, err := rules.Load(rules.LoadOptions{Builtin: true})
	require.NoError(t, err)
	byID := map[string]*rules.Rule{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	env := func(edit func(*facts.Env)) facts.Env {
		e := facts.Env{Snapshot: facts.Snapshot{
			VM:      map[string]int64{"overcommit_memory": 0},
			THP:     facts.THP{Enabled: "always"},
			Running: map[string]bool{"redis": false, "postgres": false},
		}}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	tests := []struct {
		rule string
		edit func(*facts.Env)
		want bool
	}{
		{"redis/overcommit-warning", nil, false},
		{"redis/overcommit-warning", func(e *facts.Env) { e.VM["overcommit_memory"] = 2 }, false},
		{"redis/overcommit-warning", func(e *facts.Env) { e.VM["overcommit_memory"] = 1 }, true},
		{"redis/overcommit-warning", func(e *facts.Env) { e.VM = nil }, false},
		{"redis/thp-warning", nil, false},
		{"redis/thp-warning", func(e *facts.Env) { e.THP.Enabled = "madvise" }, true},
		{"redis/thp-warning", func(e *facts.Env) { e.THP.Enabled = "never" }, true},
		{"redis/thp-warning", func(e *facts.Env) { e.THP.Enabled = "" }, false},
		{"redis/allocator-oom", nil, false},
		{"redis/allocator-oom", func(e *facts.Env) { e.Running["redis"] = true }, true},
		{"postgres/shmem-enomem", nil, false},
		{"postgres/shmem-enomem", func(e *facts.Env) { e.Running["postgres"] = true }, true},
	}
	for _, tt := range tests {
		r := byID[tt.rule]
		require.NotNil(t, r, tt.rule)
		require.NotNil(t, r.ResolveWhen, "%s resolves when its condition clears", tt.rule)
		got, err := r.ResolveWhen.Eval(env(tt.edit))
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "%s on %+v", tt.rule, env(tt.edit).VM)
	}
	require.NotNil(t, byID["kernel/oom-kill"].Cause, "the kernel's OOM kill names itself as the cause on the page it explains")
	cause, err := byID["kernel/oom-kill"].Cause.Execute(facts.Env{Captures: map[string]string{"anon_rss_kb": "3145728"}})
	require.NoError(t, err)
	require.Equal(t, "killed by the kernel OOM killer: anon-rss 3145728 kB", cause)
}

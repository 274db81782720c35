package incidents

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// TestInstancesInOneLog: two Redis servers write one log (a journal, a shared file).
// The rule's key names the instance by the pid each line starts with, so one
// server's successful save resolves only its own failed fork and its follow lines
// fold only into its own incident; a line that names no instance still falls back to
// the incidents of its source.
func TestInstancesInOneLog(t *testing.T) {
	r := anyRule("redis/fork", `^(?P<pid>\d+):M .*Can't save in background`)
	r.Follow = pats(`^(?P<pid>\d+):M .*BGSAVE for replication failed`)
	r.Resolve = pats(`^(?:(?P<pid>\d+):M .*)?Background saving terminated with success`)
	r.Key = keyTemplate(t, "{{.Rule}}@{{.Host}}/{{.Source}}/{{.Captures.pid}}")
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db1", Node: "n1"}, func() time.Time { return t0 })
	at := t0
	observe := func(text string) []Event {
		at = at.Add(time.Second)
		l := line(text)
		l.Time = at
		return tr.Observe(l)
	}
	open := observe("100:M 05 Jun 2024 10:00:00.000 # Can't save in background: fork: Cannot allocate memory")
	require.Len(t, open, 1)
	require.Equal(t, "redis/fork@db1/redis/100", open[0].State.Key)

	require.Empty(t, observe("200:M 05 Jun 2024 10:00:01.000 # BGSAVE for replication failed"),
		"another instance's follow line does not fold into this one")
	require.Empty(t, observe("200:M 05 Jun 2024 10:00:02.000 * Background saving terminated with success"),
		"another instance's success does not resolve this one")
	require.Len(t, tr.States(), 1)

	fold := observe("100:M 05 Jun 2024 10:00:03.000 # BGSAVE for replication failed")
	require.Len(t, fold, 1)
	require.Equal(t, Fold, fold[0].Kind)

	done := observe("Background saving terminated with success")
	require.Len(t, done, 1, "a line naming no instance resolves its source's incidents")
	require.Equal(t, Resolve, done[0].Kind)
	require.Empty(t, tr.States())
}

// TestInstanceByLabel: in the journal the unit names the instance; a resolve line of
// another unit leaves the incident open.
func TestInstanceByLabel(t *testing.T) {
	r := anyRule("postgres/crash", `was terminated by signal 9`)
	r.Resolve = pats(`database system is ready to accept connections`)
	r.Key = keyTemplate(t, "{{.Rule}}@{{.Host}}/{{.Source}}{{with .Labels.unit}}/{{.}}{{end}}")
	tr := NewTracker(newMatcher(t, r), Identity{Host: "db1"}, func() time.Time { return t0 })
	unit := func(text, u string) sources.Line {
		l := line(text)
		l.Labels = map[string]string{"unit": u}
		return l
	}
	require.Len(t, tr.Observe(unit("server process (PID 7) was terminated by signal 9: Killed", "postgresql@15-main.service")), 1)
	require.Empty(t, tr.Observe(unit("database system is ready to accept connections", "postgresql@16-main.service")))
	require.Len(t, tr.States(), 1)
	ev := tr.Observe(unit("database system is ready to accept connections", "postgresql@15-main.service"))
	require.Len(t, ev, 1)
	require.Equal(t, Resolve, ev[0].Kind)
}

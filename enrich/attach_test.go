package enrich

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// The snapshot an incident carries names the incident's host (the configured name),
// not the kernel's, so one page never names two hosts; the snapshot shared by the
// other incidents of the batch is left as it was.
func TestAttachNamesTheIncidentsHost(t *testing.T) {
	r := &rules.Rule{ID: "redis/fork", Title: "Redis cannot fork"}
	inc := incidents.Build(r, incidents.Event{Kind: incidents.Open, State: incidents.State{Key: "k", Rule: r.ID}}, "cache-7")
	snap := &facts.Snapshot{Host: "vm"}
	Attach(inc, r, snap, nil)
	require.Equal(t, "cache-7", inc.Snapshot.Host)
	require.Equal(t, "vm", snap.Host)
	require.Equal(t, "Redis cannot fork on cache-7.", inc.Summary)
}

package pipeline

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// TestQueuedBodyIsWhatReceiversEncode: the JSON queued for a notification is what
// encoding the incident decoded from it gives again, byte for byte, for every built-in
// rule's incident with this host's snapshot. The webhook posts the queued JSON as it
// is; this is what makes that the body it would make of the decoded incident.
func TestQueuedBodyIsWhatReceiversEncode(t *testing.T) {
	dir := t.TempDir()
	doc := "state_dir: " + filepath.Join(dir, "state") + "\nnotifiers:\n  - {name: hook, type: webhook, url: \"http://127.0.0.1:1/\"}\n"
	cfg, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	ctx := context.Background()
	p, err := New(ctx, cfg, Options{Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	defer p.Close()
	snap := p.inc.enricher.Snapshot(ctx)
	now := time.Now()
	checked := 0
	for _, r := range p.rules.all {
		for _, text := range r.Examples.Match {
			l := sources.Line{Source: "app", Stream: "app.log", Text: text, Time: now, Cursor: sources.Cursor{Stream: "app.log", Pos: "1"}}
			for _, ev := range p.inc.tracker.Observe(l) {
				if !ev.Notify() {
					continue
				}
				ds, err := p.deliveries(ev, &snap)
				require.NoError(t, err)
				for _, d := range ds {
					var inc incidents.Incident
					require.NoError(t, json.Unmarshal(d.Incident, &inc))
					again, err := json.Marshal(&inc)
					require.NoError(t, err)
					require.Equal(t, string(d.Incident), string(again), "rule %s", r.ID)
					require.Equal(t, string(inc.Status), d.Status)
					require.Equal(t, inc.Key, d.Key)
					checked++
				}
			}
		}
	}
	require.Greater(t, checked, 10, "the pack's examples made incidents")
}

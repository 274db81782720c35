package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// blockTexts are the text of each block, in order ("divider" for a divider).
func blockTexts(t *testing.T, m message) []string {
	raw, err := json.Marshal(m.blocks)
	require.NoError(t, err)
	var blocks []struct {
		Type     string       `json:"type"`
		Text     *textObject  `json:"text"`
		Elements []textObject `json:"elements"`
	}
	require.NoError(t, json.Unmarshal(raw, &blocks))
	var out []string
	for _, b := range blocks {
		switch {
		case b.Text != nil:
			out = append(out, b.Text.Text)
		case len(b.Elements) > 0:
			out = append(out, b.Elements[0].Text)
		default:
			out = append(out, b.Type)
		}
	}
	return out
}

// What to do comes right under the header; the root cause is one sentence above the
// fold and whole below the divider, reflowed (Slack wraps text itself); the fallback
// text a phone shows is the headline.
func TestLayoutDoFirst(t *testing.T) {
	inc := notifierstest.Incident(t, func(inc *incidents.Incident) {
		inc.RootCause = incidents.Reflow("Redis forks a child for BGSAVE. Under vm.overcommit_memory=2 the\nkernel refuses the fork when Committed_AS plus the parent's size\nwould pass CommitLimit.\n\nA second paragraph.")
	})
	m := render(inc, 10)
	texts := blockTexts(t, m)
	require.Equal(t, inc.Summary, m.text, "the push text is the headline")
	require.True(t, strings.HasPrefix(texts[1], "*Do first:* Set `vm.overcommit_memory=1`"), texts[1])
	require.Equal(t, "*Why:* Redis forks a child for BGSAVE.", texts[2], "one sentence above the fold")
	div := -1
	for i, s := range texts {
		if s == "divider" {
			div = i
		}
	}
	require.Positive(t, div)
	require.Equal(t, "*Root cause*\n"+esc(inc.RootCause), texts[div+1], "the whole root cause below the divider")
	require.Contains(t, texts[div+1], "Under vm.overcommit_memory=2 the kernel refuses", "not hard-wrapped")
	for _, s := range texts[:div] {
		require.NotContains(t, s, "*Dead ends*")
	}
}

// A page that another incident about the same process explains says the cause.
func TestLayoutCause(t *testing.T) {
	inc := notifierstest.Incident(t, func(inc *incidents.Incident) {
		inc.SetRelated([]incidents.Related{{Rule: "kernel/oom-kill", PID: "4321", Line: "Out of memory: Killed process 4321 (postgres)",
			Cause: "killed by the kernel OOM killer: anon-rss 3145728 kB"}})
	})
	texts := blockTexts(t, render(inc, 10))
	require.Contains(t, texts[2], "*Cause:* killed by the kernel OOM killer: anon-rss 3145728 kB")
	require.Contains(t, strings.Join(texts, "\n"), "*Same process* (pid 4321, also `kernel/oom-kill`)")
	require.Contains(t, render(inc, 10).text, "Cause: killed by the kernel OOM killer")
	reply := blockTexts(t, renderRepeat(inc, 10))
	require.Contains(t, reply[1], "*Cause:*", "an update of the page names the cause")
}

// A 20 × 64 KiB repeat keeps within Block Kit's limits, webhook and bot alike.
func TestAtTheSizeLimit(t *testing.T) {
	bodies, url := hook(t, http.StatusOK)
	_, err := webhookNotifier(t, url).Notify(context.Background(), notifierstest.Huge(t))
	require.NoError(t, err)
	body := <-bodies
	t.Logf("webhook message: %d bytes", len(body))
	require.Contains(t, string(body), "(newest ")

	f, api := newFakeSlack(t)
	n := botNotifier(t, api, nil, zap.NewNop())
	_, err = n.Notify(context.Background(), notifierstest.Huge(t))
	require.NoError(t, err)
	_, err = n.Notify(context.Background(), notifierstest.Huge(t)) // a thread reply
	require.NoError(t, err)
	require.Len(t, f.recorded(), 2)
}

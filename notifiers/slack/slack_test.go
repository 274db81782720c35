package slack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func secretOf(s string) secret.Secret { return secret.Secret(s) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hookPath stands for the secret part of an incoming webhook URL.
const hookPath = "/services/T000/B000/HOOKSECRET"

// hostile fills every field a log line or a host can reach with Slack control syntax.
func hostile(inc *incidents.Incident) {
	const evil = "<!channel> <https://evil.example|click> & @here"
	inc.Host = "<!here>"
	inc.Summary = "<@U0ADMIN> " + evil
	inc.Rule.Title = "title <!everyone>"
	inc.Labels["pod"] = "<#C0GENERAL>"
	inc.Lines = append(inc.Lines, incidents.Line{Text: "```" + evil + "```"})
	inc.Advice[0].Text += " <https://evil.example|also click>"
	inc.DeadEnds[0].Why = evil
	inc.Key = evil
}

// hook is an incoming-webhook stand-in that checks Block Kit limits.
func hook(t *testing.T, status int) (chan []byte, string) {
	bodies := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != hookPath {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		var msg struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		require.NoError(t, json.Unmarshal(body, &msg))
		require.NoError(t, checkMessage(msg.Text, msg.Blocks))
		bodies <- body
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return bodies, srv.URL + hookPath
}

func webhookNotifier(t *testing.T, url string) *Notifier {
	n, err := New(Config{WebhookURL: secretOf(url), HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifierstest.Deps(t))
	require.NoError(t, err)
	return n
}

// golden compares v, as indented JSON, with testdata/<name>.golden.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	notifierstest.Golden(t, filepath.Join("testdata", name+".golden"), append(got, '\n'))
}

// strs collects every string in a JSON document.
func strs(t *testing.T, raw []byte) []string {
	var v any
	require.NoError(t, json.Unmarshal(raw, &v))
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func TestWebhookPayload(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*incidents.Incident)
		header string
	}{
		{"webhook-firing", nil, ":red_circle: Redis cannot fork for BGSAVE on cache-7"},
		{"webhook-resolved", notifierstest.Resolved, ":white_check_mark: RESOLVED: Redis cannot fork for BGSAVE on cache-7"},
		{"webhook-test", func(inc *incidents.Incident) { inc.Test = true }, ":red_circle: [TEST] Redis cannot fork for BGSAVE on cache-7"},
		{"webhook-hostile", hostile, ":red_circle: title &lt;!everyone&gt; on &lt;!here&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies, url := hook(t, http.StatusOK)
			retry, err := webhookNotifier(t, url).Notify(context.Background(), notifierstest.Incident(t, tt.edit))
			require.NoError(t, err)
			require.False(t, retry)
			body := <-bodies
			var msg struct {
				Blocks []struct {
					Type string     `json:"type"`
					Text textObject `json:"text"`
				} `json:"blocks"`
			}
			require.NoError(t, json.Unmarshal(body, &msg))
			require.Equal(t, "header", msg.Blocks[0].Type)
			require.Equal(t, tt.header, msg.Blocks[0].Text.Text)
			var pretty any
			require.NoError(t, json.Unmarshal(body, &pretty))
			golden(t, tt.name, pretty)
		})
	}
}

func TestHostileLineIsEscaped(t *testing.T) {
	bodies, url := hook(t, http.StatusOK)
	_, err := webhookNotifier(t, url).Notify(context.Background(), notifierstest.Incident(t, hostile))
	require.NoError(t, err)
	body := <-bodies
	all := strings.Join(strs(t, body), "\n")
	require.Contains(t, all, "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; @here")
	for _, s := range strs(t, body) {
		for rest := s; ; {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			// The only markup is the rule's own doc link.
			require.True(t, strings.HasPrefix(rest[i:], "<https://redis.io/"), "unescaped < in %q", s)
			rest = rest[i+1:]
		}
		requireEntities(t, s)
	}
	require.NotContains(t, all, "javascript:")
	require.NotContains(t, all, "````", "a line cannot close the code block")
}

func TestRenderFitsLimits(t *testing.T) {
	huge := strings.Repeat("<&> ", 3000)
	inc := notifierstest.Incident(t, func(inc *incidents.Incident) {
		inc.Rule.Title = huge
		inc.RootCause = huge
		inc.Summary = huge
		inc.Labels["container"] = huge
		for i := 0; i < 30; i++ {
			inc.Lines = append(inc.Lines, incidents.Line{Text: huge[:400]})
			inc.Advice = append(inc.Advice, incidents.Advice{Text: huge[:300]})
		}
	})
	m := render(inc, 10)
	raw, err := json.Marshal(m.blocks)
	require.NoError(t, err)
	require.NoError(t, checkMessage(m.text, raw))
	for _, s := range strs(t, raw) {
		requireEntities(t, s)
		require.Equal(t, 0, strings.Count(s, "```")%2, "code block left open")
	}
	lines := linesText(inc.Lines, 10)
	require.Contains(t, lines, "(newest ")
}

// requireEntities checks that every & in escaped text starts a whole entity: no cut
// fell inside one and nothing went out unescaped.
func requireEntities(t *testing.T, s string) {
	t.Helper()
	for i := strings.IndexByte(s, '&'); i >= 0; i = strings.IndexByte(s[i+1:], '&') + i + 1 {
		rest := s[i:]
		require.True(t, strings.HasPrefix(rest, "&amp;") || strings.HasPrefix(rest, "&lt;") || strings.HasPrefix(rest, "&gt;"),
			"broken entity at %q", rest[:min(len(rest), 8)])
		if strings.IndexByte(s[i+1:], '&') < 0 {
			break
		}
	}
}

func TestWebhookStatus(t *testing.T) {
	notifierstest.StatusTable{
		Notify: func(t *testing.T, url string) (bool, error) {
			return webhookNotifier(t, url+hookPath).Notify(context.Background(), notifierstest.Incident(t, nil))
		},
		Secrets: []string{"HOOKSECRET"},
		Cases: []notifierstest.StatusCase{
			{Status: http.StatusOK},
			{Status: http.StatusBadRequest},
			{Status: http.StatusForbidden},
			{Status: http.StatusNotFound},
			{Status: http.StatusGone},
			{Status: http.StatusTooManyRequests, Retry: true},
			{Status: http.StatusTooManyRequests, RetryAfter: "12", Retry: true, Wait: 12 * time.Second},
			{Status: http.StatusInternalServerError, Retry: true},
			{Status: http.StatusServiceUnavailable, Retry: true},
		},
	}.Run(t)
}

func TestWebhookCancelled(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		return webhookNotifier(t, url+hookPath).Notify(ctx, notifierstest.Incident(t, nil))
	}, "HOOKSECRET")
}

func TestFactsText(t *testing.T) {
	s := factsText(notifierstest.Incident(t, nil))
	for _, want := range []string{
		"`vm.overcommit_memory = 2` (strict: never overcommit)",
		"Committed_AS 15.2 GiB of CommitLimit 15.6 GiB (97%), enforced",
		"MemAvailable 1.0 GiB of MemTotal 31.2 GiB",
		"cgroup v2 memory 7.0 GiB of 8.0 GiB limit (88%)",
		"THP enabled: `always`",
	} {
		require.Contains(t, s, want)
	}
	require.Empty(t, factsText(notifierstest.Incident(t, func(inc *incidents.Incident) { inc.Snapshot = nil })))
}

func TestBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB"} {
		require.Equal(t, want, bytes(in))
	}
}

package slack

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// mapKV is a notifiers.KV whose Put can be made to fail.
type mapKV struct {
	mu     sync.Mutex
	m      map[string]string
	putErr error
}

func (k *mapKV) Get(key string) (string, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *mapKV) Put(key, val string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.putErr != nil {
		return k.putErr
	}
	k.m[key] = val
	return nil
}

func (k *mapKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func botNotifier(t *testing.T, api string, kv notifiers.KV, log *zap.Logger) *Notifier {
	n, err := New(Config{Token: testToken, Channel: "oncall", APIURL: api, HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifiers.Deps{KV: kv, Log: log})
	require.NoError(t, err)
	n.now = func() time.Time { return time.Date(2024, 5, 1, 4, 0, 0, 0, time.UTC) }
	return n
}

func TestBotThread(t *testing.T) {
	fake, api := newFakeSlack(t)
	kv := &mapKV{m: map[string]string{}}
	ctx := context.Background()
	inc := notifierstest.Incident(t, nil)

	_, err := botNotifier(t, api, kv, zaptest.NewLogger(t)).Notify(ctx, inc)
	require.NoError(t, err)
	stored, ok, _ := kv.Get(inc.Key)
	require.True(t, ok)
	require.Equal(t, "C0TEST 1714533121.000001", stored, "the channel ID Slack answered, not the name")

	// A restart: a new Notifier on the same store continues the thread.
	n := botNotifier(t, api, kv, zaptest.NewLogger(t))
	inc.Count, inc.Folded = 5, 2
	_, err = n.Notify(ctx, inc)
	require.NoError(t, err)
	notifierstest.Resolved(inc)
	_, err = n.Notify(ctx, inc)
	require.NoError(t, err)
	_, ok, _ = kv.Get(inc.Key)
	require.False(t, ok, "a resolved incident's thread is forgotten")

	calls := fake.recorded()
	require.Len(t, calls, 4)
	require.Equal(t, []string{"chat.postMessage", "chat.postMessage", "chat.update", "chat.postMessage"},
		[]string{calls[0].Method, calls[1].Method, calls[2].Method, calls[3].Method})
	require.Equal(t, "oncall", calls[0].Channel)
	require.Empty(t, calls[0].ThreadTS)
	require.Equal(t, "1714533121.000001", calls[1].ThreadTS)
	require.Equal(t, "C0TEST", calls[1].Channel)
	require.Equal(t, "1714533121.000001", calls[2].TS, "the resolve edits the original message")
	require.Contains(t, string(calls[2].Blocks), "RESOLVED: Redis cannot fork")
	require.Equal(t, "1714533121.000001", calls[3].ThreadTS)
	require.Contains(t, string(calls[3].Blocks), "*Resolved* at 2024-05-01 03:40:00 UTC")
	golden(t, "bot-thread", calls)

	// The next occurrence of the key starts a new message.
	inc.Status, inc.ResolvedAt = incidents.StatusFiring, nil
	_, err = n.Notify(ctx, inc)
	require.NoError(t, err)
	calls = fake.recorded()
	require.Empty(t, calls[4].ThreadTS)
}

func TestBotResolveWithoutThread(t *testing.T) {
	fake, api := newFakeSlack(t)
	_, err := botNotifier(t, api, nil, zaptest.NewLogger(t)).Notify(context.Background(), notifierstest.Incident(t, notifierstest.Resolved))
	require.NoError(t, err)
	calls := fake.recorded()
	require.Len(t, calls, 1)
	require.Equal(t, "chat.postMessage", calls[0].Method)
	require.Contains(t, string(calls[0].Blocks), "RESOLVED: Redis cannot fork")
}

func TestBotThreadNotStored(t *testing.T) {
	_, api := newFakeSlack(t)
	core, logs := observer.New(zap.WarnLevel)
	kv := &mapKV{m: map[string]string{}, putErr: errors.New("store closed")}
	retry, err := botNotifier(t, api, kv, zap.New(core)).Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err, "the message is out; a retry would post it twice")
	require.False(t, retry)
	require.Equal(t, 1, logs.FilterMessage("slack thread not stored, repeats will start a new message").Len())
}

func TestBotErrors(t *testing.T) {
	tests := []struct {
		name       string
		fail       string
		status     int
		retryAfter string
		retry      bool
		wait       time.Duration
	}{
		{"invalid_auth", "invalid_auth", 0, "", false, 0},
		{"channel_not_found", "channel_not_found", 0, "", false, 0},
		{"not_in_channel", "not_in_channel", 0, "", false, 0},
		{"internal_error", "internal_error", 0, "", true, 0},
		{"rate limited", "", http.StatusTooManyRequests, "30", true, 30 * time.Second},
		{"unavailable", "", http.StatusServiceUnavailable, "", true, 0},
		{"not found", "", http.StatusNotFound, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := newFakeSlack(t)
			fake.script(tt.fail, tt.status, tt.retryAfter)
			retry, err := botNotifier(t, api, nil, zaptest.NewLogger(t)).Notify(context.Background(), notifierstest.Incident(t, nil))
			require.Error(t, err)
			require.Equal(t, tt.retry, retry)
			require.NotContains(t, err.Error(), testToken)
			if tt.fail != "" {
				require.Contains(t, err.Error(), tt.fail)
			}
			if tt.wait > 0 {
				var ra notifiers.RetryAfter
				require.ErrorAs(t, err, &ra)
				require.Equal(t, tt.wait, ra.RetryAfter())
			}
		})
	}
}

func TestBotCancelled(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		return botNotifier(t, url+"/api/", nil, zaptest.NewLogger(t)).Notify(ctx, notifierstest.Incident(t, nil))
	}, testToken)
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		want            Config
	}{
		{"webhook", "webhook_url: https://hooks.slack.com/services/T/B/X\n", "",
			Config{WebhookURL: "https://hooks.slack.com/services/T/B/X", APIURL: APIURL, HTTPConfig: notifiers.DefaultHTTPConfig, MaxLines: 10}},
		{"bot", "token_file: /run/slack\nchannel: C0123\nmax_lines: 5\n", "",
			Config{TokenFile: "/run/slack", Channel: "C0123", APIURL: APIURL, HTTPConfig: notifiers.DefaultHTTPConfig, MaxLines: 5}},
		{"neither", "channel: C0123\n", "1:1: exactly one of webhook_url", Config{}},
		{"both modes", "webhook_url: https://h/\ntoken: x\n", "1:1: exactly one of webhook_url", Config{}},
		{"both twins", "token: x\ntoken_file: /f\nchannel: C\n", "2:13: only one of token and token_file may be set", Config{}},
		{"bot without channel", "token: x\n", "1:1: channel is required with token", Config{}},
		{"webhook with channel", "webhook_url: https://h/\nchannel: C\n", "2:10: channel applies only with token", Config{}},
		{"unknown key", "token: x\nchanel: C\n", `2:1: unknown field "chanel"`, Config{}},
		{"bad webhook", "webhook_url: hooks.slack.com/services/T/B/X\n", "1:14: webhook_url: not an absolute", Config{}},
		{"bad max_lines", "token: x\nchannel: C\nmax_lines: 51\n", "3:12: max_lines must be between 1 and 50", Config{}},
		{"bad timeout", "token: x\nchannel: C\ntimeout: -2s\n", "3:10: timeout must not be negative", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { notifierstest.DecodeConfig(t, tt.yaml, tt.want, tt.err, "services/T/B/X") })
	}
}

func TestNewReadsSecretFiles(t *testing.T) {
	fake, api := newFakeSlack(t)
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(testToken+"\n"), 0o600))
	n, err := New(Config{TokenFile: path, Channel: "C1", APIURL: api}, notifierstest.Deps(t))
	require.NoError(t, err)
	_, err = n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err)
	require.Len(t, fake.recorded(), 1)

	_, err = New(Config{}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "exactly one of webhook_url (or webhook_url_file) and token (or token_file) is required")
	_, err = New(Config{TokenFile: filepath.Join(t.TempDir(), "missing"), Channel: "C1"}, notifierstest.Deps(t))
	require.ErrorIs(t, err, os.ErrNotExist)
}

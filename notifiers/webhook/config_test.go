package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// A request cancelled mid-flight says so, and its error holds neither the URL nor
// the token in it.
func TestNotifyCancelledRedactsURL(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		return newNotifier(t, Config{URL: secret.Secret(url + "/hooks/T0KEN?token=abc123")}).Notify(ctx, sample())
	}, "T0KEN", "abc123", "/hooks")
}

func TestNotifyUnreachableRedactsURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/T0KEN"
	srv.Close()
	retry, err := newNotifier(t, Config{URL: secret.Secret(url)}).Notify(context.Background(), sample())
	require.Error(t, err)
	require.True(t, retry)
	require.NotContains(t, err.Error(), "T0KEN")
	require.NotContains(t, err.Error(), url)
}

func TestHeaderSafeKey(t *testing.T) {
	rec := newRecorder(t, http.StatusOK, "")
	inc := sample()
	inc.Key = "kernel/oom-kill/bad\r\nX-Evil: 1"
	_, err := newNotifier(t, Config{URL: secret.Secret(rec.URL)}).Notify(context.Background(), inc)
	require.NoError(t, err)
	got := rec.last(t)
	require.Equal(t, "kernel/oom-kill/bad??X-Evil: 1", got.header.Get(HeaderKey))
	require.Empty(t, got.header.Get("X-Evil"))
	require.Contains(t, string(got.body), `"key":"kernel/oom-kill/bad\r\nX-Evil: 1"`, "the body keeps the exact key")
}

func TestConfigYAML(t *testing.T) {
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(urlFile, []byte("https://hooks.example.com/T0KEN\n"), 0o600))
	secretFile := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("s3cret\n"), 0o600))

	tests := []struct {
		name    string
		yaml    string
		want    Config
		wantErr string
	}{
		{"url", "url: https://hooks.example.com/T0KEN\n",
			Config{URL: "https://hooks.example.com/T0KEN", MaxBodyBytes: DefaultMaxBodyBytes, HTTPConfig: notifiers.DefaultHTTPConfig}, ""},
		{"files", fmt.Sprintf("url_file: %s\nsecret_file: %s\ntimeout: 3s\nheaders: {Authorization: Bearer x}\n", urlFile, secretFile),
			Config{URLFile: urlFile, SecretFile: secretFile, MaxBodyBytes: DefaultMaxBodyBytes,
				HTTPConfig: notifiers.HTTPConfig{Timeout: 3 * time.Second}, Headers: map[string]string{"Authorization": "Bearer x"}}, ""},
		{"neither", "timeout: 3s\n", Config{}, "one of url and url_file is required"},
		{"both", fmt.Sprintf("url: https://x.example.com/\nurl_file: %s\n", urlFile), Config{}, "only one of url and url_file"},
		{"both secrets", fmt.Sprintf("url: https://x.example.com/\nsecret: a\nsecret_file: %s\n", secretFile), Config{}, "only one of secret and secret_file"},
		{"scheme", "url: ftp://files.example.com/T0KEN\n", Config{}, "1:6: url: not an absolute http or https URL"},
		{"no host", "url: https:///T0KEN\n", Config{}, "url: not an absolute http or https URL"},
		{"reserved header", "url: https://x.example.com/\nheaders: {X-Cowbell-Key: k}\n", Config{}, "set by cowbell"},
		{"content type", "url: https://x.example.com/\nheaders: {content-type: text/plain}\n", Config{}, "set by cowbell"},
		{"bad header name", "url: https://x.example.com/\nheaders: {\"a b\": c}\n", Config{}, "invalid character"},
		{"unknown field", "url: https://x.example.com/\nurls: y\n", Config{}, "2:1: unknown field \"urls\""},
		{"timeout", "url: https://x.example.com/\ntimeout: -1s\n", Config{}, "2:10: timeout must not be negative"},
		{"proxy", "url: https://x.example.com/\nproxy_url: ftp://p\n", Config{}, "2:12: proxy_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Errors never quote the URL.
			notifierstest.DecodeConfig(t, tt.yaml, tt.want, tt.wantErr, "T0KEN")
			if tt.wantErr == "" {
				_, err := New(tt.want, notifierstest.Deps(t))
				require.NoError(t, err, "a decoded config makes a notifier")
			}
		})
	}
}

func TestNewChecksConfigBuiltInCode(t *testing.T) {
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(urlFile, []byte("http://127.0.0.1:9/x\n"), 0o600))
	n, err := New(Config{URLFile: urlFile}, notifierstest.Deps(t))
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/x", n.url)

	_, err = New(Config{URL: "gopher://x/T0KEN"}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "url: not an absolute http or https URL")
	require.False(t, strings.Contains(err.Error(), "T0KEN"))
	_, err = New(Config{}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "one of url and url_file is required")

	// The files are read by New, not while decoding: a missing one is New's error,
	// naming the key and the file.
	_, err = New(Config{URLFile: "/nonexistent/url"}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "url_file: read secret file")
	require.ErrorContains(t, err, "/nonexistent/url")
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("ftp://x/T0KEN\n"), 0o600))
	_, err = New(Config{URLFile: bad}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "url_file: not an absolute http or https URL")
	require.NotContains(t, err.Error(), "T0KEN")
}

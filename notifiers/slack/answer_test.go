package slack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// Slack's answer says what is wrong; the error quotes it, never the URL or the token.
func TestWebhookAnswerQuoted(t *testing.T) {
	for _, tt := range []struct {
		status int
		answer string
	}{{http.StatusNotFound, "no_service"}, {http.StatusBadRequest, "invalid_blocks"}, {http.StatusForbidden, "invalid_token"}} {
		t.Run(tt.answer, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			retry, err := webhookNotifier(t, srv.URL+hookPath).Notify(context.Background(), notifierstest.Incident(t, nil))
			require.False(t, retry)
			require.ErrorContains(t, err, tt.answer)
			require.ErrorContains(t, err, http.StatusText(tt.status))
			require.NotContains(t, err.Error(), "HOOKSECRET")
		})
	}
}

// The Web API's invalid_blocks comes with messages saying which block: quoted.
func TestBotAnswerQuoted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_blocks", "response_metadata": map[string]any{
			"messages": []string{"[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"},
		}})
	}))
	defer srv.Close()
	_, err := botNotifier(t, srv.URL+"/api/", nil, zap.NewNop()).Notify(context.Background(), notifierstest.Incident(t, nil))
	require.ErrorContains(t, err, "invalid_blocks: [ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]")
	require.False(t, errors.Is(err, context.Canceled))
	require.NotContains(t, err.Error(), testToken)
}

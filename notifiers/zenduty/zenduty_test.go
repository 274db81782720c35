package zenduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// secretPath stands for the integration key in every test URL.
const secretPath = "/api/events/0123-integration-key-4567/"

// recorder is a Zenduty stand-in: it checks each body against the Generic
// Integration's documented fields and keeps it.
type recorder struct {
	t      *testing.T
	status int
	bodies chan []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.URL.Path != secretPath || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	if err := checkSchema(body); err != nil {
		r.t.Errorf("body does not fit the generic integration schema: %v\n%s", err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.bodies <- body
	w.WriteHeader(r.status)
	_, _ = w.Write([]byte(`{"message":"Alert created"}`))
}

// checkSchema checks a body against https://zenduty.com/docs/generic-integration/:
// message, summary and alert_type are required strings, alert_type is one of six,
// the optional fields have their documented types, and nothing else is sent.
func checkSchema(body []byte) error {
	if len(body) > MaxEvent {
		return errors.New("body larger than cowbell's 512 KB budget")
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(body, &ev); err != nil {
		return err
	}
	str := func(k string, required bool) (string, error) {
		raw, ok := ev[k]
		if !ok {
			if required {
				return "", errors.New("missing " + k)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New(k + " is not a string")
		}
		return s, nil
	}
	for _, k := range []string{"message", "summary", "alert_type"} {
		if s, err := str(k, true); err != nil || s == "" {
			return errors.Join(err, errors.New(k+" is empty"))
		}
	}
	if m, _ := str("message", true); len(m) > maxMessage {
		return errors.New("message longer than 512")
	}
	switch at, _ := str("alert_type", true); at {
	case "critical", "acknowledged", "resolved", "error", "warning", "info":
	default:
		return errors.New("alert_type " + at + " not allowed")
	}
	if _, err := str("entity_id", false); err != nil {
		return err
	}
	var obj map[string]any
	if raw, ok := ev["payload"]; ok && json.Unmarshal(raw, &obj) != nil {
		return errors.New("payload is not an object")
	}
	var urls []struct {
		URL  string `json:"link_url"`
		Text string `json:"link_text"`
	}
	if raw, ok := ev["urls"]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&urls); err != nil {
			return errors.New("urls: " + err.Error())
		}
	}
	for k := range ev {
		switch k {
		case "message", "summary", "alert_type", "suppressed", "entity_id", "payload", "urls", "sla":
		default:
			return errors.New("unknown field " + k)
		}
	}
	return nil
}

func newServer(t *testing.T, status int) (*recorder, string) {
	r := &recorder{t: t, status: status, bodies: make(chan []byte, 4)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + secretPath
}

func newNotifier(t *testing.T, url string) *Notifier {
	n, err := New(Config{URL: secretOf(url), HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifierstest.Deps(t))
	require.NoError(t, err)
	return n
}

func TestNotifyPayload(t *testing.T) {
	long := strings.Repeat("très long titre ", 60)
	tests := []struct {
		name      string
		edit      func(*incidents.Incident)
		alertType string
	}{
		{"firing", nil, "critical"},
		{"resolved", notifierstest.Resolved, "resolved"},
		{"test", func(inc *incidents.Incident) { inc.Test = true; inc.Rule.Severity = "info" }, "info"},
		{"warning", func(inc *incidents.Incident) { inc.Rule.Severity = "warning" }, "warning"},
		{"long-title", func(inc *incidents.Incident) { inc.Rule.Title = long; inc.Rule.Severity = "bogus" }, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, url := newServer(t, http.StatusCreated)
			inc := notifierstest.Incident(t, tt.edit)
			retry, err := newNotifier(t, url).Notify(context.Background(), inc)
			require.NoError(t, err)
			require.False(t, retry)
			body := <-rec.bodies
			var ev event
			require.NoError(t, json.Unmarshal(body, &ev))
			require.Equal(t, tt.alertType, ev.AlertType)
			require.Equal(t, inc.Key, ev.EntityID)
			require.Equal(t, incidents.Schema, ev.Payload.Schema)
			require.Equal(t, inc.Test, strings.HasPrefix(ev.Message, "[TEST] "))
			require.LessOrEqual(t, len(ev.Message), maxMessage)
			notifierstest.GoldenJSON(t, filepath.Join("testdata", tt.name+".golden"), body)
		})
	}
}

func TestNotifyStatus(t *testing.T) {
	notifierstest.StatusTable{
		Notify: func(t *testing.T, url string) (bool, error) {
			return newNotifier(t, url+secretPath).Notify(context.Background(), notifierstest.Incident(t, nil))
		},
		Secrets:     []string{secretPath},
		StatusError: true,
		Cases: []notifierstest.StatusCase{
			{Status: http.StatusOK},
			{Status: http.StatusBadRequest},
			{Status: http.StatusUnauthorized},
			{Status: http.StatusNotFound},
			{Status: http.StatusRequestTimeout, Retry: true},
			{Status: http.StatusTooManyRequests, RetryAfter: "7", Retry: true, Wait: 7 * time.Second},
			{Status: http.StatusInternalServerError, Retry: true},
			{Status: http.StatusServiceUnavailable, Retry: true},
		},
	}.Run(t)
}

func TestNotifyCancelled(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		return newNotifier(t, url+secretPath).Notify(ctx, notifierstest.Incident(t, nil))
	}, "integration-key")
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		want            Config
	}{
		{"url", "url: https://www.zenduty.com/api/events/k/\n", "", Config{URL: "https://www.zenduty.com/api/events/k/", HTTPConfig: notifiers.DefaultHTTPConfig}},
		{"url_file", "url_file: /run/secrets/zd\ntimeout: 3s\n", "", Config{URLFile: "/run/secrets/zd", HTTPConfig: notifiers.HTTPConfig{Timeout: 3 * time.Second}}},
		{"neither", "timeout: 3s\n", "1:1: one of url and url_file is required", Config{}},
		{"both", "url: https://x/\nurl_file: /f\n", "2:11: only one of url and url_file may be set", Config{}},
		{"unknown key", "url: https://x/\nurl_fil: /f\n", `2:1: unknown field "url_fil"`, Config{}},
		{"bad url", "url: www.zenduty.com/api/events/k/\n", "1:6: url: not an absolute http or https URL", Config{}},
		{"bad timeout", "url: https://x/\ntimeout: -1s\n", "2:10: timeout must not be negative", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notifierstest.DecodeConfig(t, tt.yaml, tt.want, tt.err, "zenduty.com/api/events/k")
		})
	}
}

func TestNewReadsURLFile(t *testing.T) {
	rec, url := newServer(t, http.StatusOK)
	path := filepath.Join(t.TempDir(), "url")
	require.NoError(t, os.WriteFile(path, []byte(url+"\n"), 0o600))
	n, err := New(Config{URLFile: path}, notifierstest.Deps(t))
	require.NoError(t, err)
	_, err = n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err)
	require.NotEmpty(t, <-rec.bodies)

	_, err = New(Config{URLFile: filepath.Join(t.TempDir(), "missing")}, notifierstest.Deps(t))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func secretOf(s string) secret.Secret { return secret.Secret(s) }

// A 20 × 64 KiB repeat fits the budget, firing and resolved: a resolve Zenduty
// refused for its size would leave the incident open for good.
func TestNotifyAtTheSizeLimit(t *testing.T) {
	rec, url := newServer(t, http.StatusOK)
	n := newNotifier(t, url)
	for _, edit := range []func(*incidents.Incident){nil, notifierstest.Resolved} {
		inc := notifierstest.Huge(t)
		if edit != nil {
			edit(inc)
		}
		_, err := n.Notify(context.Background(), inc)
		require.NoError(t, err)
		body := <-rec.bodies
		require.LessOrEqual(t, len(body), MaxEvent)
		var ev struct {
			AlertType string              `json:"alert_type"`
			Message   string              `json:"message"`
			Payload   *incidents.Incident `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(body, &ev))
		require.NotNil(t, ev.Payload.Truncated, "the payload says what was cut")
		require.Equal(t, inc.Summary, ev.Message, "the title a phone shows is the headline")
		t.Logf("%s: %d bytes", ev.AlertType, len(body))
	}
}

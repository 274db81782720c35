package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const routingKey = "R0UT1NGKEY0123456789abcdefabcdef"

var fixedNow = time.Date(2024, 5, 1, 3, 15, 0, 0, time.UTC)

// pagerDuty is an Events API v2 stand-in: it validates each event the way
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ documents it,
// answers 400 to an invalid one and 202 otherwise, and keeps the valid ones.
type pagerDuty struct {
	t      *testing.T
	events chan []byte
}

func (p *pagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err := checkEvent(body); err != nil {
		p.t.Errorf("event does not fit the Events API v2 schema: %v\n%s", err, body)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"invalid event","message":"Event object is invalid","errors":["` + err.Error() + `"]}`))
		return
	}
	p.events <- body
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
}

type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		Group         string         `json:"group"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	Images []struct {
		Src  string `json:"src"`
		Href string `json:"href"`
		Alt  string `json:"alt"`
	} `json:"images"`
	Links []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
	Client    string `json:"client"`
	ClientURL string `json:"client_url"`
}

func checkEvent(body []byte) error {
	if len(body) > MaxEvent {
		return fmt.Errorf("event of %d bytes: the maximum is 512 KB", len(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var ev pdEvent
	if err := dec.Decode(&ev); err != nil {
		return err
	}
	if ev.RoutingKey == "" {
		return errors.New("routing_key is required")
	}
	if len(ev.DedupKey) > maxDedupKey {
		return errors.New("dedup_key longer than 255")
	}
	switch ev.EventAction {
	case "trigger":
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			return errors.New("dedup_key is required to " + ev.EventAction)
		}
		return nil
	default:
		return errors.New("event_action must be trigger, acknowledge or resolve")
	}
	p := ev.Payload
	switch {
	case p == nil:
		return errors.New("payload is required to trigger")
	case p.Summary == "" || len([]rune(p.Summary)) > maxSummary:
		return errors.New("payload.summary must have 1 to 1024 characters")
	case p.Source == "":
		return errors.New("payload.source is required")
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	default:
		return errors.New("payload.severity must be critical, error, warning or info")
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			return errors.New("payload.timestamp is not ISO 8601")
		}
	}
	for _, l := range ev.Links {
		if l.Href == "" {
			return errors.New("links[].href is required")
		}
	}
	return nil
}

func newServer(t *testing.T) (*pagerDuty, string) {
	p := &pagerDuty{t: t, events: make(chan []byte, 4)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL + "/v2/enqueue"
}

func newNotifier(t *testing.T, url string) *Notifier {
	n, err := New(Config{RoutingKey: routingKey, URL: url, HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifierstest.Deps(t))
	require.NoError(t, err)
	n.now = func() time.Time { return fixedNow }
	return n
}

func TestNotifyPayload(t *testing.T) {
	tests := []struct {
		name, action, severity, timestamp string
		edit                              func(*incidents.Incident)
	}{
		{"trigger", "trigger", "critical", "2024-05-01T03:14:01Z", nil},
		{"resolve", "resolve", "", "", func(inc *incidents.Incident) {
			at := fixedNow.Add(time.Hour)
			inc.Status, inc.ResolvedAt = incidents.StatusResolved, &at
		}},
		{"test", "trigger", "info", "2024-05-01T03:15:00Z", func(inc *incidents.Incident) {
			inc.Test, inc.Rule.Severity, inc.LastSeen = true, "info", time.Time{}
		}},
		{"long-summary", "trigger", "error", "2024-05-01T03:14:01Z", func(inc *incidents.Incident) {
			inc.Summary, inc.Rule.Severity = strings.Repeat("ünïcode ", 300), "fatal"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pd, url := newServer(t)
			inc := notifierstest.Incident(t, tt.edit)
			retry, err := newNotifier(t, url).Notify(context.Background(), inc)
			require.NoError(t, err)
			require.False(t, retry)
			body := <-pd.events
			var ev pdEvent
			require.NoError(t, json.Unmarshal(body, &ev))
			require.Equal(t, tt.action, ev.EventAction)
			require.Equal(t, inc.Key, ev.DedupKey)
			require.Equal(t, routingKey, ev.RoutingKey)
			if tt.action == "resolve" {
				require.Nil(t, ev.Payload)
				require.JSONEq(t, `{"routing_key":"`+routingKey+`","event_action":"resolve","dedup_key":"`+inc.Key+`"}`, string(body))
			} else {
				require.Equal(t, tt.severity, ev.Payload.Severity)
				require.Equal(t, tt.timestamp, ev.Payload.Timestamp)
				require.Equal(t, "cache-7", ev.Payload.Source)
				require.Equal(t, "redis", ev.Payload.Component)
				require.Equal(t, inc.Rule.ID, ev.Payload.Class)
				require.Equal(t, incidents.Schema, ev.Payload.CustomDetails["schema"])
				require.Equal(t, inc.Test, strings.HasPrefix(ev.Payload.Summary, "[TEST] "))
				require.LessOrEqual(t, len([]rune(ev.Payload.Summary)), maxSummary)
				require.Equal(t, "cowbell", ev.Client)
			}
			notifierstest.GoldenJSON(t, filepath.Join("testdata", tt.name+".golden"), body)
		})
	}
}

func TestDedupKey(t *testing.T) {
	short := "kernel/oom-kill@node-1"
	require.Equal(t, short, DedupKey(short))
	long := strings.Repeat("k", 300)
	other := strings.Repeat("k", 299) + "j"
	require.LessOrEqual(t, len(DedupKey(long)), maxDedupKey)
	require.Equal(t, DedupKey(long), DedupKey(long))
	require.NotEqual(t, DedupKey(long), DedupKey(other))
}

func TestNotifyStatus(t *testing.T) {
	notifierstest.StatusTable{
		Notify: func(t *testing.T, url string) (bool, error) {
			return newNotifier(t, url).Notify(context.Background(), notifierstest.Incident(t, nil))
		},
		// An answer quoting the key must not carry it into the error.
		Answer:      `{"status":"error","routing_key":"` + routingKey + `"}`,
		Secrets:     []string{routingKey},
		StatusError: true,
		Cases: []notifierstest.StatusCase{
			{Status: http.StatusAccepted},
			{Status: http.StatusBadRequest},
			{Status: http.StatusForbidden},
			{Status: http.StatusNotFound},
			{Status: http.StatusTooManyRequests, RetryAfter: "30", Retry: true, Wait: 30 * time.Second},
			{Status: http.StatusInternalServerError, Retry: true},
			{Status: http.StatusBadGateway, Retry: true},
			{Status: http.StatusServiceUnavailable, Retry: true},
		},
	}.Run(t)
}

func TestNotifyCancelled(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		return newNotifier(t, url+"/v2/enqueue?token=hidden").Notify(ctx, notifierstest.Incident(t, nil))
	}, "hidden", routingKey)
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		want            Config
	}{
		{"key", "routing_key: abc\n", "", Config{RoutingKey: "abc", URL: EventsURL, HTTPConfig: notifiers.DefaultHTTPConfig}},
		{"key file and url", "routing_key_file: /run/pd\nurl: http://127.0.0.1:9/v2/enqueue\ntimeout: 2s\n", "",
			Config{RoutingKeyFile: "/run/pd", URL: "http://127.0.0.1:9/v2/enqueue", HTTPConfig: notifiers.HTTPConfig{Timeout: 2 * time.Second}}},
		{"neither", "timeout: 2s\n", "1:1: one of routing_key and routing_key_file is required", Config{}},
		{"both", "routing_key: a\nrouting_key_file: /f\n", "2:19: only one of routing_key and routing_key_file may be set", Config{}},
		{"unknown key", "routing_key: a\nrouting-key: b\n", `2:1: unknown field "routing-key"`, Config{}},
		{"bad url", "routing_key: a\nurl: events.pagerduty.com\n", "2:6: url: not an absolute http or https URL", Config{}},
		{"bad timeout", "routing_key: a\ntimeout: -2s\n", "2:10: timeout must not be negative", Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { notifierstest.DecodeConfig(t, tt.yaml, tt.want, tt.err) })
	}
}

func TestNewReadsKeyFile(t *testing.T) {
	pd, url := newServer(t)
	path := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(path, []byte(routingKey+"\n"), 0o600))
	n, err := New(Config{RoutingKeyFile: path, URL: url}, notifierstest.Deps(t))
	require.NoError(t, err)
	_, err = n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err)
	var ev pdEvent
	require.NoError(t, json.Unmarshal(<-pd.events, &ev))
	require.Equal(t, routingKey, ev.RoutingKey)

	_, err = New(Config{}, notifierstest.Deps(t))
	require.ErrorContains(t, err, "one of routing_key and routing_key_file is required")
}

// A 20 × 64 KiB repeat (a 1.3 MB incident) fits PagerDuty's 512 KB event: trigger and
// resolve are accepted, the custom details say what was cut, the summary is the
// headline.
func TestNotifyAtTheSizeLimit(t *testing.T) {
	pd, url := newServer(t)
	n := newNotifier(t, url)
	huge := notifierstest.Huge(t)
	resolved := notifierstest.Huge(t)
	notifierstest.Resolved(resolved)
	for _, inc := range []*incidents.Incident{huge, resolved} {
		retry, err := n.Notify(context.Background(), inc)
		require.NoError(t, err)
		require.False(t, retry)
	}
	trigger, resolve := <-pd.events, <-pd.events
	require.LessOrEqual(t, len(trigger), MaxEvent)
	t.Logf("trigger event: %d bytes of a %d-byte budget", len(trigger), MaxEvent)
	var ev pdEvent
	require.NoError(t, json.Unmarshal(trigger, &ev))
	cut := ev.Payload.CustomDetails["truncated"].(map[string]any)
	require.EqualValues(t, MaxEvent, cut["limit"])
	require.Greater(t, cut["size"].(float64), float64(MaxEvent))
	require.Len(t, ev.Payload.CustomDetails["lines"], incidents.MaxLines, "lines cut, none dropped at this budget")
	require.Equal(t, huge.Summary, ev.Payload.Summary)
	require.NoError(t, json.Unmarshal(resolve, &ev))
	require.Equal(t, "resolve", ev.EventAction)
}

// Each link says what it points at: two pages of one site are told apart.
func TestLinksAreLabelled(t *testing.T) {
	ls := links([]string{
		"https://redis.io/docs/latest/operate/oss_and_stack/management/admin/",
		"https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/",
	})
	require.Len(t, ls, 2)
	require.NotEqual(t, ls[0].Text, ls[1].Text)
	require.Equal(t, "redis.io: persistence", ls[1].Text)
}

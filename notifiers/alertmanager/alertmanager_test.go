package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedNow = time.Date(2024, 5, 1, 3, 15, 0, 0, time.UTC)

// fakeAM is an Alertmanager API v2 stand-in: it validates each body as a list of
// postable alerts (labels required, label names [a-zA-Z_][a-zA-Z0-9_]*, RFC 3339
// times, end not before start), checks the Authorization header and keeps it.
type fakeAM struct {
	t      *testing.T
	status int
	auth   string
	posts  chan []byte
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != f.auth {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if err := checkAlerts(body); err != nil {
		f.t.Errorf("body is not a list of postable alerts: %v\n%s", err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case f.posts <- body:
	default: // a test that stopped listening
	}
	w.WriteHeader(f.status)
}

func checkAlerts(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var alerts []struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"startsAt"`
		EndsAt       string            `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	if err := dec.Decode(&alerts); err != nil {
		return err
	}
	for _, a := range alerts {
		if len(a.Labels) == 0 {
			return errors.New("labels are required")
		}
		for k, v := range a.Labels {
			if !labelName.MatchString(k) || v == "" {
				return fmt.Errorf("invalid label %q=%q", k, v)
			}
		}
		starts, err1 := time.Parse(time.RFC3339Nano, a.StartsAt)
		ends, err2 := time.Parse(time.RFC3339Nano, a.EndsAt)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if ends.Before(starts) {
			return errors.New("start time must be before end time")
		}
	}
	return nil
}

func newFake(t *testing.T, status int, auth string) (*fakeAM, string) {
	f := &fakeAM{t: t, status: status, auth: auth, posts: make(chan []byte, 16)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func newNotifier(t *testing.T, c Config, log *zap.Logger) *Notifier {
	if c.ResendInterval == 0 {
		c.ResendInterval = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	n, err := New(c, notifiers.Deps{Log: log})
	require.NoError(t, err)
	n.now = func() time.Time { return fixedNow }
	return n
}

type postedAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func decode(t *testing.T, body []byte) []postedAlert {
	var out []postedAlert
	require.NoError(t, json.Unmarshal(body, &out))
	return out
}

func TestNotifyPayload(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*incidents.Incident)
		ends   time.Time
		active bool
	}{
		{"firing", nil, fixedNow.Add(4 * time.Minute), true},
		{"resolved", notifierstest.Resolved, time.Date(2024, 5, 1, 3, 40, 0, 0, time.UTC), false},
		{"test", func(inc *incidents.Incident) { inc.Test = true }, fixedNow.Add(4 * time.Minute), true},
		{"hostile-labels", func(inc *incidents.Incident) {
			inc.Labels = map[string]string{"pod": "web\x00-1\n\xff", "unit": "  ", "not-a-label": "x"}
			inc.Host = strings.Repeat("h", 2000)
		}, fixedNow.Add(4 * time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, url := newFake(t, http.StatusOK, "")
			n := newNotifier(t, Config{URLs: []string{url}, Labels: map[string]string{"cluster": "prod-eu"}}, zaptest.NewLogger(t))
			inc := notifierstest.Incident(t, tt.edit)
			retry, err := n.Notify(context.Background(), inc)
			require.NoError(t, err)
			require.False(t, retry)
			body := <-f.posts
			alerts := decode(t, body)
			require.Len(t, alerts, 1)
			a := alerts[0]
			require.Equal(t, "redis/bgsave-fork-enomem", a.Labels["alertname"])
			require.Equal(t, inc.Key, a.Labels["incident_key"])
			require.Equal(t, "prod-eu", a.Labels["cluster"])
			require.Equal(t, inc.Key, a.Annotations["cowbell_key"])
			require.Equal(t, inc.Docs[0], a.Annotations["runbook_url"])
			require.Contains(t, a.Annotations["description"], inc.RootCause)
			require.Contains(t, a.Annotations["description"], "sysctl -w vm.overcommit_memory=1")
			require.Equal(t, inc.FirstSeen, a.StartsAt)
			require.Equal(t, tt.ends, a.EndsAt)
			require.Equal(t, inc.Test, strings.HasPrefix(a.Annotations["summary"], "[TEST] "))
			require.Equal(t, inc.Test, a.Labels["test"] == "true")
			for _, v := range a.Labels {
				require.LessOrEqual(t, len(v), maxLabelValue)
				require.NotContains(t, v, "\n")
			}
			require.Equal(t, tt.active, len(n.Active()) == 1)
			notifierstest.GoldenJSON(t, filepath.Join("testdata", tt.name+".golden"), body)
		})
	}
}

func TestNotifyStatus(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{
		{http.StatusOK, false},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusServiceUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			_, url := newFake(t, tt.status, "")
			n := newNotifier(t, Config{URLs: []string{url}}, zaptest.NewLogger(t))
			retry, err := n.Notify(context.Background(), notifierstest.Incident(t, nil))
			require.Equal(t, tt.retry, retry)
			if tt.status == http.StatusOK {
				require.NoError(t, err)
				require.Len(t, n.Active(), 1)
				return
			}
			var se *notifiers.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.status, se.Code)
			require.Empty(t, n.Active(), "an alert not taken is not re-sent")
		})
	}
}

func TestNotifyAuth(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"basic", Config{Username: "cowbell", Password: "s3cret"}, "Basic Y293YmVsbDpzM2NyZXQ="},
		{"bearer", Config{BearerToken: "t0ken"}, "Bearer t0ken"},
		{"none", Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, url := newFake(t, http.StatusOK, tt.want)
			tt.c.URLs = []string{url}
			_, err := newNotifier(t, tt.c, zaptest.NewLogger(t)).Notify(context.Background(), notifierstest.Incident(t, nil))
			require.NoError(t, err)
			require.NotEmpty(t, <-f.posts)
		})
	}
}

func TestNotifyCancelled(t *testing.T) {
	notifierstest.Cancelled(t, func(ctx context.Context, url string) (bool, error) {
		n := newNotifier(t, Config{URLs: []string{url + "/am-path"}, BearerToken: "t0ken-xyz"}, zaptest.NewLogger(t))
		return n.Notify(ctx, notifierstest.Incident(t, nil))
	}, "am-path", "t0ken-xyz")
}

func TestNotifyCluster(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	ok, okURL := newFake(t, http.StatusOK, "")
	_, badURL := newFake(t, http.StatusServiceUnavailable, "")
	n := newNotifier(t, Config{URLs: []string{badURL, okURL}}, zap.New(core))

	retry, err := n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err, "one Alertmanager of the cluster took it")
	require.False(t, retry)
	require.NotEmpty(t, <-ok.posts)
	_, err = n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err)
	warned := logs.FilterMessage("alertmanager did not take alerts").All()
	require.Len(t, warned, 1, "a lasting failure is logged when it starts")
	require.NotContains(t, fmt.Sprint(warned[0].ContextMap()), badURL)

	n = newNotifier(t, Config{URLs: []string{badURL, badURL}}, zaptest.NewLogger(t))
	retry, err = n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.Error(t, err)
	require.True(t, retry)
}

func TestRunResends(t *testing.T) {
	f, url := newFake(t, http.StatusOK, "")
	n := newNotifier(t, Config{URLs: []string{url}, ResendInterval: 10 * time.Millisecond}, zaptest.NewLogger(t))
	primed := notifierstest.Incident(t, func(inc *incidents.Incident) { inc.Key = "primed" })
	n.Prime([]*incidents.Incident{primed, notifierstest.Incident(t, func(inc *incidents.Incident) { inc.Key = "gone"; notifierstest.Resolved(inc) })})
	require.Equal(t, []string{"primed"}, n.Active())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	keys := func(body []byte) map[string]bool {
		out := map[string]bool{}
		for _, a := range decode(t, body) {
			out[a.Labels["incident_key"]] = true
		}
		return out
	}
	waitFor := func(want map[string]bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case body := <-f.posts:
				if got := keys(body); len(got) == len(want) && func() bool {
					for k := range want {
						if !got[k] {
							return false
						}
					}
					return true
				}() {
					return
				}
			case <-deadline:
				t.Fatalf("no re-send of %v", want)
			}
		}
	}
	waitFor(map[string]bool{"primed": true})

	_, err := n.Notify(context.Background(), notifierstest.Incident(t, nil))
	require.NoError(t, err)
	waitFor(map[string]bool{"primed": true, "redis/bgsave-fork-enomem@cache-7": true})

	_, err = n.Notify(context.Background(), notifierstest.Incident(t, func(inc *incidents.Incident) { inc.Key = "primed"; notifierstest.Resolved(inc) }))
	require.NoError(t, err)
	require.Equal(t, []string{"redis/bgsave-fork-enomem@cache-7"}, n.Active())
	waitFor(map[string]bool{"redis/bgsave-fork-enomem@cache-7": true})
}

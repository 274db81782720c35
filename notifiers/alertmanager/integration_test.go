package alertmanager

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// gettableAlert is what GET /api/v2/alerts answers, as far as the tests read it.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlert polls a real Alertmanager until the alert of key is (want=true) or is
// no longer (want=false) among its active alerts.
func activeAlert(t *testing.T, base, key string, want bool) *gettableAlert {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var found *gettableAlert
	require.Eventuallyf(t, func() bool {
		resp, err := client.Get(base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var alerts []gettableAlert
		if json.NewDecoder(resp.Body).Decode(&alerts) != nil {
			return false
		}
		found = nil
		for i := range alerts {
			if alerts[i].Labels["incident_key"] == key && alerts[i].Status.State == "active" {
				found = &alerts[i]
			}
		}
		return (found != nil) == want
	}, 15*time.Second, 50*time.Millisecond, "alert %q active=%v never seen", key, want)
	return found
}

func liveIncident(t *testing.T) *incidents.Incident {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return notifierstest.Incident(t, func(inc *incidents.Incident) {
		inc.FirstSeen, inc.LastSeen = now.Add(-time.Minute), now
	})
}

func TestRealAlertmanager(t *testing.T) {
	base := testenv.Alertmanager(t)
	n, err := New(Config{URLs: []string{base}, ResendInterval: time.Minute, HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}, Labels: map[string]string{"cluster": "test"}}, notifiers.Deps{Log: zap.NewNop()})
	require.NoError(t, err)
	inc := liveIncident(t)

	_, err = n.Notify(context.Background(), inc)
	require.NoError(t, err)
	a := activeAlert(t, base, inc.Key, true)
	require.Equal(t, map[string]string{
		"alertname":    "redis/bgsave-fork-enomem",
		"severity":     "critical",
		"host":         "cache-7",
		"source":       "redis",
		"container":    "redis",
		"namespace":    "cache",
		"pod":          "redis-0",
		"incident_key": inc.Key,
		"cluster":      "test",
	}, a.Labels)
	require.Equal(t, inc.Summary, a.Annotations["summary"], "the headline: what broke, where, what to do")
	require.Equal(t, inc.Docs[0], a.Annotations["runbook_url"])
	require.Equal(t, inc.Key, a.Annotations["cowbell_key"])
	require.Contains(t, a.Annotations["description"], "`sysctl -w vm.overcommit_memory=1`")
	require.True(t, a.StartsAt.Equal(inc.FirstSeen))

	at := time.Now().UTC()
	inc.Status, inc.ResolvedAt = incidents.StatusResolved, &at
	_, err = n.Notify(context.Background(), inc)
	require.NoError(t, err)
	activeAlert(t, base, inc.Key, false)
	require.Empty(t, n.Active())
}

func TestRealAlertmanagerOneDown(t *testing.T) {
	base := testenv.Alertmanager(t)
	dead := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	core, logs := observer.New(zap.WarnLevel)
	n, err := New(Config{URLs: []string{dead, base}, ResendInterval: time.Minute, HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifiers.Deps{Log: zap.New(core)})
	require.NoError(t, err)
	inc := liveIncident(t)

	retry, err := n.Notify(context.Background(), inc)
	require.NoError(t, err)
	require.False(t, retry)
	activeAlert(t, base, inc.Key, true)
	require.Equal(t, 1, logs.FilterMessage("alertmanager did not take alerts").Len())
}

// A 20 × 64 KiB repeat is a bounded alert that a real Alertmanager takes: the
// summary is the headline within PagerDuty's summary length, the description and the
// newest log line are cut, and the alert links back to its generator.
func TestRealAlertmanagerAtTheSizeLimit(t *testing.T) {
	base := testenv.Alertmanager(t)
	n, err := New(Config{URLs: []string{base}, ResendInterval: time.Minute, GeneratorURL: "https://grafana.example/d/cowbell?var-host={host}",
		HTTPConfig: notifiers.HTTPConfig{Timeout: 5 * time.Second}}, notifiers.Deps{Log: zap.NewNop()})
	require.NoError(t, err)
	huge := notifierstest.Huge(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	huge.FirstSeen, huge.LastSeen = now.Add(-time.Minute), now
	huge.Advice = append(huge.Advice, incidents.Advice{Text: strings.Repeat("advice ", 2000)})
	_, err = n.Notify(context.Background(), huge)
	require.NoError(t, err)
	a := activeAlert(t, base, huge.Key, true)
	size := 0
	for k, v := range a.Annotations {
		size += len(k) + len(v)
	}
	t.Logf("annotations: %d bytes", size)
	require.LessOrEqual(t, size, maxSummary+maxDescription+3*maxAnnotation+64)
	require.Equal(t, huge.Summary, a.Annotations["summary"])
	require.LessOrEqual(t, len(a.Annotations["description"]), maxDescription)
	require.LessOrEqual(t, len(a.Annotations["log_line"]), maxAnnotation)
	require.True(t, strings.HasPrefix(a.Annotations["log_line"], "1:M "), "the newest line's start")
	require.Equal(t, "https://grafana.example/d/cowbell?var-host=cache-7", a.GeneratorURL)
}

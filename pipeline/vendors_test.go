package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// call is one request a vendor stand-in received: its path, and its JSON body (or,
// for Slack's Web API, its form).
type call struct {
	path string
	body map[string]any
	list []map[string]any // an Alertmanager post: an array of alerts
	form url.Values
}

// vendor records the requests of one stand-in and lets a test wait for them.
type vendor struct {
	mu    sync.Mutex
	calls []call
	kick  chan struct{}
}

func (v *vendor) add(c call) {
	v.mu.Lock()
	v.calls = append(v.calls, c)
	v.mu.Unlock()
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func (v *vendor) all() []call {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]call(nil), v.calls...)
}

// waitFor waits until cond holds on the calls so far, failing after a deadline.
func (v *vendor) waitFor(t *testing.T, what string, cond func([]call) bool) []call {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cs := v.all(); cond(cs) {
			return cs
		}
		select {
		case <-v.kick:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: never saw it; got %d calls", what, len(v.all()))
		}
	}
}

// vendors are stand-ins for PagerDuty, Zenduty, Slack's Web API, a webhook and an
// Alertmanager, each checking the fields its vendor requires and answering as it does,
// plus a real Alertmanager when the test wants one.
type vendors struct {
	pd, zd, slack, hook, am, sink *vendor
	urls                          map[string]string
	realAM                        string
}

func newVendors(t *testing.T, withRealAM bool) *vendors {
	vs := &vendors{urls: map[string]string{}}
	for _, name := range []string{"pd", "zd", "slack", "hook", "am", "sink"} {
		v := &vendor{kick: make(chan struct{}, 1)}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveVendor(t, name, v, w, r) }))
		t.Cleanup(srv.Close)
		vs.urls[name] = srv.URL
		switch name {
		case "pd":
			vs.pd = v
		case "zd":
			vs.zd = v
		case "slack":
			vs.slack = v
		case "hook":
			vs.hook = v
		case "am":
			vs.am = v
		case "sink":
			vs.sink = v
		}
	}
	if withRealAM {
		vs.realAM = testenv.Alertmanager(t)
	}
	return vs
}

var slackTS sync.Map // per test server: the next message ts

func serveVendor(t *testing.T, name string, v *vendor, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := call{path: r.URL.Path}
	switch name {
	case "slack":
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("token") != "xoxb-test-token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		c.form = form
		v.add(c)
		n, _ := slackTS.LoadOrStore(v, new(int))
		*n.(*int)++
		w.Header().Set("Content-Type", "application/json")
		ts := form.Get("ts")
		if ts == "" {
			ts = fmt.Sprintf("1700000000.%06d", *n.(*int))
		}
		_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C0TEST","ts":%q}`, ts)
		return
	case "am":
		if err := json.Unmarshal(body, &c.list); err != nil {
			t.Errorf("alertmanager: body is not an array of alerts: %v", err)
		}
	default:
		if err := json.Unmarshal(body, &c.body); err != nil {
			t.Errorf("%s: body is not JSON: %v", name, err)
		}
	}
	if name == "pd" && len(body) > 512_000 {
		t.Errorf("pagerduty: event of %d bytes", len(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	v.add(c)
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"success"}`)
}

// notifiersYAML configures a receiver of each kind on the stand-ins, every one named
// in the route for rules matching routeRules (a glob) with severity in severities,
// and a sink for the rest.
func (vs *vendors) notifiersYAML(route string) string {
	amURLs := fmt.Sprintf("[%q]", vs.urls["am"])
	if vs.realAM != "" {
		amURLs = fmt.Sprintf("[%q, %q]", vs.urls["am"], vs.realAM)
	}
	return fmt.Sprintf(`
notifiers:
  - {name: pd, type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdefabcdef, url: "%s/v2/enqueue"}
  - {name: zd, type: zenduty, url: "%s/api/events/KEY/"}
  - {name: slack, type: slack, token: xoxb-test-token, channel: C0TEST, api_url: "%s/api/"}
  - {name: hook, type: webhook, url: "%s/hook"}
  - {name: am, type: alertmanager, urls: %s, resend_interval: 1h}
  - {name: sink, type: webhook, url: "%s/sink"}
routes:
  - {%s, notifiers: [pd, zd, slack, hook, am]}
default_notifiers: [sink]
outbox: {min_backoff: 10ms, max_backoff: 50ms}
`, vs.urls["pd"], vs.urls["zd"], vs.urls["slack"], vs.urls["hook"], amURLs, vs.urls["sink"], route)
}

// str reads a string at a path of nested JSON objects.
func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = o[k]
	}
	s, _ := v.(string)
	return s
}

// distinct lists the distinct values f gives the calls, in order of appearance.
func distinct(cs []call, f func(call) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cs {
		if k := f(c); k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func count(cs []call, f func(call) bool) int {
	n := 0
	for _, c := range cs {
		if f(c) {
			n++
		}
	}
	return n
}

// alertKey is an Alertmanager post's alert's incident key and state ("firing" while
// it ends in the future).
func alertKey(c call) string {
	if len(c.list) == 0 {
		return ""
	}
	labels, _ := c.list[0]["labels"].(map[string]any)
	k, _ := labels["incident_key"].(string)
	return k
}

func alertResolved(c call) bool {
	if len(c.list) == 0 {
		return false
	}
	ends, err := time.Parse(time.RFC3339Nano, str(c.list[0], "endsAt"))
	return err == nil && !ends.After(time.Now())
}

// realActive reports whether the real Alertmanager holds key as an active alert.
func (vs *vendors) realActive(t *testing.T, key string) bool {
	resp, err := http.Get(vs.realAM + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	require.NoError(t, err)
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&alerts))
	for _, a := range alerts {
		if a.Labels["incident_key"] == key && a.Status.State == "active" {
			return true
		}
	}
	return false
}

// waitRealAM waits until the real Alertmanager holds key active (want) or not.
func (vs *vendors) waitRealAM(t *testing.T, key string, want bool) {
	t.Helper()
	require.Eventually(t, func() bool { return vs.realActive(t, key) == want }, 20*time.Second, 50*time.Millisecond,
		"real alertmanager: alert %s active=%v never seen", key, want)
}

// runPipeline runs a pipeline on doc until the test ends.
func runPipeline(t *testing.T, doc string, o Options) *Pipeline {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, cfg, o)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, p.Close())
	})
	return p
}

// appendTo appends lines to a file.
func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// emptyFile creates an empty file in dir.
func emptyFile(t *testing.T, dir, name string) string {
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	return p
}

package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request is what the test server saw.
type request struct {
	header http.Header
	body   []byte
}

// recorder is an endpoint answering every request with status and body.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newRecorder(t *testing.T, status int, answer string) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{header: r.Header.Clone(), body: body})
		rec.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) last(t *testing.T) request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.reqs)
	return rec.reqs[len(rec.reqs)-1]
}

func newNotifier(t *testing.T, c Config) *Notifier {
	t.Helper()
	n, err := New(c, notifierstest.Deps(t))
	require.NoError(t, err)
	n.now = func() time.Time { return time.Unix(1740830400, 0) }
	return n
}

func sample() *incidents.Incident {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &incidents.Incident{
		Schema: incidents.Schema, Status: incidents.StatusFiring, Key: "redis/bgsave-fork-enomem/node-1",
		Rule: incidents.RuleRef{
			ID: "redis/bgsave-fork-enomem", Title: "Redis cannot fork for BGSAVE",
			Severity: "critical", Tags: []string{"redis", "fork", "overcommit"},
		},
		Summary: "Redis cannot fork for BGSAVE on node-1", Host: "node-1", Source: "redis",
		Labels: map[string]string{"pod": "redis-0", "namespace": "prod"},
		Lines: []incidents.Line{{
			Time: t0, Stream: "/var/log/redis/redis-server.log",
			Text: "1:M 01 Mar 2025 12:00:00.000 # Can't save in background: fork: Cannot allocate memory",
		}},
		Count: 3, Folded: 2, FirstSeen: t0, LastSeen: t0.Add(2 * time.Minute),
		RootCause: "Redis forks a child for BGSAVE; with vm.overcommit_memory=0 the kernel refuses the fork.",
		Advice: []incidents.Advice{{
			Text: "Set vm.overcommit_memory=1 on the host.", When: "vm.overcommit_memory != 1",
			Facts: map[string]string{"vm.overcommit_memory": "0"}, SuccessRate: 0.92,
		}},
		DeadEnds: []incidents.DeadEnd{{Action: "Disable swap", Why: "the OOM killer comes sooner", FailRate: 0.8}},
		Docs:     []string{"https://redis.io/docs/latest/operate/oss_and_stack/management/admin/"},
		Snapshot: &facts.Snapshot{
			Taken: t0, Host: "node-1",
			VM:      map[string]int64{"overcommit_memory": 0, "overcommit_ratio": 50},
			Meminfo: map[string]int64{"MemTotal": 16384000, "MemAvailable": 512000, "Committed_AS": 20000000, "CommitLimit": 8192000},
			Commit:  facts.Commit{Mode: 0, CommittedKB: 20000000, LimitKB: 8192000, Ratio: 2.44},
			THP:     facts.THP{Enabled: "always", Defrag: "madvise"},
			Cgroup:  facts.Cgroup{Version: 2, LimitBytes: 4 << 30, UsageBytes: 3 << 30, UsageRatio: 0.75},
		},
	}
}

func resolved() *incidents.Incident {
	inc := sample()
	at := inc.LastSeen.Add(10 * time.Minute)
	inc.Status, inc.ResolvedAt = incidents.StatusResolved, &at
	inc.Lines = append(inc.Lines, incidents.Line{Time: at, Text: "Background saving terminated with success"})
	return inc
}

func TestNotifyGolden(t *testing.T) {
	tests := []struct {
		name      string
		inc       *incidents.Incident
		secret    secret.Secret
		wantEvent string
	}{
		{"firing", sample(), "", "firing"},
		{"resolved", resolved(), "", "resolved"},
		{"signed", sample(), "whsec-2f1c9a", "firing"},
		{"test", notifiers.TestIncident("node-1", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), "whsec-2f1c9a", "firing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, http.StatusOK, "ok")
			n := newNotifier(t, Config{URL: secret.Secret(rec.URL + "/hooks/T0KEN"), Secret: tt.secret,
				Headers: map[string]string{"Authorization": "Bearer abc123"}})
			retry, err := n.Notify(context.Background(), tt.inc)
			require.NoError(t, err)
			require.False(t, retry)
			got := rec.last(t)
			notifierstest.GoldenJSON(t, filepath.Join("testdata", tt.name+".golden"), got.body)

			var back incidents.Incident
			require.NoError(t, json.Unmarshal(got.body, &back))
			require.Equal(t, tt.inc.Key, back.Key, "the body is the incident")
			require.Equal(t, "application/json", got.header.Get("Content-Type"))
			require.Equal(t, tt.wantEvent, got.header.Get(HeaderEvent))
			require.Equal(t, tt.inc.Key, got.header.Get(HeaderKey))
			require.Equal(t, "Bearer abc123", got.header.Get("Authorization"))
			require.Equal(t, map[bool]string{true: "true"}[tt.inc.Test], got.header.Get(HeaderTest))
			if tt.secret.Empty() {
				require.Empty(t, got.header.Get(HeaderSignature))
				require.Empty(t, got.header.Get(HeaderTimestamp))
				return
			}
			require.Equal(t, "1740830400", got.header.Get(HeaderTimestamp))
			verifySignature(t, tt.secret.Reveal(), got)
		})
	}
}

// verifySignature checks the signature as a receiver would, with Go's HMAC and with
// the openssl command docs/webhook.md shows.
func verifySignature(t *testing.T, key string, r request) {
	t.Helper()
	ts, sig := r.header.Get(HeaderTimestamp), r.header.Get(HeaderSignature)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + "." + string(r.body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	require.True(t, hmac.Equal([]byte(want), []byte(sig)), "signature %s, want %s", sig, want)

	openssl := testenv.NeedBinary(t, "openssl")
	cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", key, "-r")
	cmd.Stdin = bytes.NewReader(append([]byte(ts+"."), r.body...))
	out, err := cmd.Output()
	require.NoError(t, err)
	hexsum, _, _ := strings.Cut(string(out), " ")
	require.Equal(t, sig, "sha256="+hexsum, "openssl agrees")
}

// TestNotifyEncodedSendsWhatNotifySends: a queued incident's JSON, posted as it is,
// makes the request Notify makes of the incident (body, headers and signature); one
// past max_body_bytes is left to Notify, which cuts it.
func TestNotifyEncodedSendsWhatNotifySends(t *testing.T) {
	for _, inc := range []*incidents.Incident{sample(), resolved()} {
		t.Run(string(inc.Status), func(t *testing.T) {
			rec := newRecorder(t, http.StatusOK, "ok")
			n := newNotifier(t, Config{URL: secret.Secret(rec.URL), Secret: "whsec-2f1c9a",
				Headers: map[string]string{"Authorization": "Bearer abc123"}})
			_, err := n.Notify(context.Background(), inc)
			require.NoError(t, err)
			want := rec.last(t)
			queued, err := json.Marshal(inc)
			require.NoError(t, err)
			handled, retry, err := n.NotifyEncoded(context.Background(), inc.Key, inc.Status, queued)
			require.NoError(t, err)
			require.True(t, handled)
			require.False(t, retry)
			got := rec.last(t)
			require.Equal(t, string(want.body), string(got.body))
			for _, h := range []string{"Content-Type", HeaderEvent, HeaderKey, HeaderTest, HeaderTimestamp, HeaderSignature, "Authorization"} {
				require.Equal(t, want.header.Values(h), got.header.Values(h), h)
			}
		})
	}
	t.Run("past the limit", func(t *testing.T) {
		rec := newRecorder(t, http.StatusOK, "")
		n := newNotifier(t, Config{URL: secret.Secret(rec.URL), MaxBodyBytes: MinMaxBodyBytes})
		queued, err := json.Marshal(notifierstest.Huge(t))
		require.NoError(t, err)
		handled, _, err := n.NotifyEncoded(context.Background(), "k", incidents.StatusFiring, queued)
		require.NoError(t, err)
		require.False(t, handled)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		require.Empty(t, rec.reqs, "nothing sent: Notify cuts it")
	})
}

func TestNotifyStatusRetry(t *testing.T) {
	notifierstest.StatusTable{
		Notify: func(t *testing.T, url string) (bool, error) {
			return newNotifier(t, Config{URL: secret.Secret(url + "/hooks/T0KEN")}).Notify(context.Background(), sample())
		},
		Answer:      "answer from the endpoint",
		Secrets:     []string{"T0KEN"},
		StatusError: true,
		Quoted:      true,
		Cases: []notifierstest.StatusCase{
			{Status: 200}, {Status: 201}, {Status: 202}, {Status: 204},
			{Status: 400}, {Status: 401}, {Status: 403}, {Status: 404}, {Status: 410}, {Status: 413}, {Status: 422},
			{Status: 408, Retry: true}, {Status: 429, Retry: true}, {Status: 500, Retry: true},
			{Status: 502, Retry: true}, {Status: 503, Retry: true}, {Status: 504, Retry: true},
		},
	}.Run(t)
}

// A 20 × 64 KiB repeat is cut to the configured cap, default or set, and is signed as
// sent: the receiver docs/webhook.md shows reads at most the cap and verifies it.
func TestNotifyAtTheSizeLimit(t *testing.T) {
	for _, limit := range []int{0, MinMaxBodyBytes} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			rec := newRecorder(t, http.StatusOK, "")
			n := newNotifier(t, Config{URL: secret.Secret(rec.URL), Secret: "k3y", MaxBodyBytes: limit})
			_, err := n.Notify(context.Background(), notifierstest.Huge(t))
			require.NoError(t, err)
			r := rec.last(t)
			want := limit
			if want == 0 {
				want = DefaultMaxBodyBytes
			}
			require.LessOrEqual(t, len(r.body), want)
			var got incidents.Incident
			require.NoError(t, json.Unmarshal(r.body, &got))
			require.Equal(t, want, got.Truncated.Limit)
			verifySignature(t, "k3y", r)
		})
	}
}

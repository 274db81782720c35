package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/incidents"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fileRig is a pipeline configuration tailing one log file with the given rules and
// notifying a recording webhook.
type fileRig struct {
	cfg *config.Config
	log string
	got <-chan incidents.Incident
}

func newFileRig(t *testing.T, rulesYAML string) *fileRig {
	t.Helper()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(rulesYAML), 0o600))
	logFile := filepath.Join(dir, "app.log")
	require.NoError(t, os.WriteFile(logFile, nil, 0o644))
	url, got := hookServer(t)
	doc := fmt.Sprintf(`
state_dir: %s
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: beginning, poll_interval: 20ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
`, filepath.Join(dir, "state"), rulesFile, logFile, url)
	cfg, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	return &fileRig{cfg: cfg, log: logFile, got: got}
}

// appendLine appends one line to the log.
func (r *fileRig) appendLine(t *testing.T, s string) {
	t.Helper()
	f, err := os.OpenFile(r.log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(s + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// start runs a pipeline on the rig (metrics on reg, which may be nil); stop cancels
// it, waits for it and closes its store.
func (r *fileRig) start(t *testing.T, reg *prometheus.Registry) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Log: zaptest.NewLogger(t)}
	if reg != nil {
		o.Registry = reg
	}
	p, err := New(ctx, r.cfg, o)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, p.Close())
	}
}

// copyTree copies a fixture tree so a test can change it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}

// hookServer records incident bodies on a channel.
func hookServer(t *testing.T) (url string, got <-chan incidents.Incident) {
	ch := make(chan incidents.Incident, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var inc incidents.Incident
		if err := json.Unmarshal(body, &inc); err != nil {
			t.Errorf("body: %v", err)
		}
		ch <- inc
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

func next(t *testing.T, got <-chan incidents.Incident) incidents.Incident {
	t.Helper()
	select {
	case inc := <-got:
		return inc
	case <-time.After(20 * time.Second):
		t.Fatal("no notification")
	}
	return incidents.Incident{}
}

// TestProbeOpensAndResolves: a probe rule opens an incident keyed to the node while
// its condition holds on the snapshot, and resolves it when the condition clears.
func TestProbeOpensAndResolves(t *testing.T) {
	root := copyTree(t, "../enrich/testdata/mode2-near-limit")
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "probe.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`
- id: host/commit-near-limit
  title: Committed_AS near CommitLimit under strict overcommit
  severity: warning
  probe:
    condition: commit.mode == 2 && commit.ratio >= 0.9
  advice:
    - text: "Committed_AS is {{pct .Commit.Ratio}} of CommitLimit"
      when: commit.ratio >= 0.9
`), 0o600))
	url, got := hookServer(t)
	doc := fmt.Sprintf(`
state_dir: %s
rules: {builtin: false, paths: [%q]}
snapshot: {proc: %q, sys: %q, etc: %q, interval: 20ms, cache_for: 1ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 10ms, max_backoff: 50ms}
`, filepath.Join(dir, "state"), rulesFile, filepath.Join(root, "proc"), filepath.Join(root, "sys"), filepath.Join(root, "etc"), url)
	cfg, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := New(ctx, cfg, Options{Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	open := next(t, got)
	require.Equal(t, incidents.StatusFiring, open.Status)
	require.Equal(t, "host/commit-near-limit", open.Rule.ID)
	machine, _ := os.ReadFile(filepath.Join(root, "etc/machine-id"))
	boot, _ := os.ReadFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"))
	wantKey := "host/commit-near-limit@" + strings.TrimSpace(string(machine)) + "/" + strings.TrimSpace(string(boot))
	require.Equal(t, wantKey, open.Key, "standing conditions are keyed to the node")
	require.Len(t, open.Advice, 1)
	require.Contains(t, open.Advice[0].Text, "94.0%")
	require.Contains(t, open.Advice[0].Facts, "commit.ratio", "the advice says which facts made it apply")

	// The condition clears: Committed_AS falls well below the limit.
	mi := filepath.Join(root, "proc/meminfo")
	b, err := os.ReadFile(mi)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(mi, []byte(strings.Replace(string(b), "Committed_AS:   12320768 kB", "Committed_AS:    6000000 kB", 1)), 0o644))
	resolved := next(t, got)
	require.Equal(t, incidents.StatusResolved, resolved.Status)
	require.Equal(t, open.Key, resolved.Key)

	cancel()
	require.NoError(t, <-done)
	require.NoError(t, p.Close())
	select {
	case extra := <-got:
		t.Fatalf("unexpected notification %s %s", extra.Status, extra.Key)
	default:
	}
}

// TestRestartDoesNotPageAgain: an incident paged before a restart stays open in the
// store, so the same line after the restart folds into it instead of paging again.
func TestRestartDoesNotPageAgain(t *testing.T) {
	rig := newFileRig(t, `
- id: test/fork
  title: fork failed
  match: '(?P<prog>\w+): fork: Cannot allocate memory'
  key: '{{.Rule}}/{{.Captures.prog}}'
  cooldown: 1h
`)
	got, appendLine := rig.got, func(s string) { rig.appendLine(t, s) }
	start := func() func() { return rig.start(t, nil) }

	stop := start()
	appendLine("alpha: fork: Cannot allocate memory")
	first := next(t, got)
	require.Equal(t, "test/fork/alpha", first.Key)
	stop()

	stop = start()
	appendLine("alpha: fork: Cannot allocate memory") // inside the cooldown: folded
	appendLine("bravo: fork: Cannot allocate memory") // a new key: paged
	second := next(t, got)
	require.Equal(t, "test/fork/bravo", second.Key, "alpha was paged before the restart")
	stop()
	select {
	case extra := <-got:
		t.Fatalf("paged again: %s", extra.Key)
	default:
	}
}

// TestRestartKeepsThresholdCounts: hits counted towards a threshold before a restart
// still count after it, though their lines' cursors were committed with no event.
func TestRestartKeepsThresholdCounts(t *testing.T) {
	rig := newFileRig(t, `
- id: test/flapping
  title: fork failed three times within an hour
  match: 'fork: Cannot allocate memory'
  threshold: {count: 3, within: 1h}
`)
	got, appendLine := rig.got, func(s string) { rig.appendLine(t, s) }

	// Two hits of three, then a clean stop once both were read: the shutdown commits
	// their cursors with no event.
	reg := prometheus.NewRegistry()
	stop := rig.start(t, reg)
	appendLine("bash: fork: Cannot allocate memory")
	appendLine("bash: fork: Cannot allocate memory")
	waitCounter(t, reg, "cowbell_lines_read_total", 2)
	stop()
	select {
	case inc := <-got:
		t.Fatalf("threshold not reached, yet %s was sent", inc.Key)
	default:
	}

	stop = rig.start(t, nil)
	defer stop()
	appendLine("bash: fork: Cannot allocate memory") // the third, after the restart
	inc := next(t, got)
	require.Equal(t, "test/flapping", inc.Rule.ID)
	require.Equal(t, 3, inc.Count)
}

// waitCounter waits until the counter family name sums to want in reg.
func waitCounter(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var sum float64
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
			}
		}
		if sum >= want {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s reached %v, not %v", name, sum, want)
		}
	}
}

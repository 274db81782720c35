package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/config"
)

// TestNewReportsEveryBuildError: every receiver that cannot be built is named, each
// at its place in the file, not only the first.
func TestNewReportsEveryBuildError(t *testing.T) {
	dir := t.TempDir()
	doc := fmt.Sprintf(`
state_dir: %s
rules: {builtin: false}
notifiers:
  - {name: pd, type: pagerduty, routing_key_file: /nonexistent/pd}
  - {name: hook, type: webhook, url_file: /nonexistent/hook}
  - {name: console, type: console}
`, filepath.Join(dir, "state"))
	cfg, err := config.Parse("cowbell.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	require.NoError(t, err, "decoding reads no secret file")
	_, err = New(context.Background(), cfg, Options{Log: zaptest.NewLogger(t)})
	require.ErrorContains(t, err, `cowbell.yaml:5:5: notifier "pd": pagerduty: routing_key_file: read secret file`)
	require.ErrorContains(t, err, `cowbell.yaml:6:5: notifier "hook": webhook: url_file: read secret file`)

	receivers, errs := BuildNotifiers(cfg, nil, zaptest.NewLogger(t))
	require.Len(t, errs, 2)
	require.Contains(t, receivers, "console")
}

// Alertmanager alerts link back to this cowbell's /metrics, by the incident's host,
// when metrics are served.
func TestMetricsURL(t *testing.T) {
	require.Equal(t, "http://{host}:9464/metrics", metricsURL("127.0.0.1:9464"))
	require.Equal(t, "http://{host}:9464/metrics", metricsURL(":9464"))
	require.Empty(t, metricsURL(""))
	require.Empty(t, metricsURL("127.0.0.1:0"))
}

package validate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// commitMetrics are the commit-accounting gauges: every dashboard shows each of them.
var commitMetrics = []string{
	"cowbell_overcommit_mode",
	"cowbell_committed_as_bytes",
	"cowbell_commit_limit_bytes",
	"cowbell_commit_ratio",
	"cowbell_recommended_overcommit_kbytes",
}

// grafanaVars stands in for the variables Grafana fills in before a query is sent.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${instance}", ".*", "$instance", ".*",
)

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

// queries returns every PromQL query of the dashboard, named by its panel, and the
// metrics its template variables read (label_values(metric, label)).
func (d dashboard) queries() (map[string]string, []string) {
	q := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, t := range p.Targets {
				q[fmt.Sprintf("%s #%d", p.Title, i+1)] = t.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	var vars []string
	re := regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for _, v := range d.Templating.List {
		if m := re.FindStringSubmatch(v.Definition); m != nil {
			vars = append(vars, m[1])
		}
	}
	return q, vars
}

// TestGrafanaDashboards parses every query of every dashboard under deploy/grafana as
// Prometheus does and checks that each metric it names is one cowbell serves: in
// the /metrics of the real binary, or documented in docs/metrics.md (series with a
// label such as a skip reason appear only when they first count), or pending.
func TestGrafanaDashboards(t *testing.T) {
	files, err := filepath.Glob("../grafana/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	scraped := scrapeMetricNames(t)
	served := map[string]bool{}
	for n := range scraped {
		served[n] = true
	}
	for _, n := range documentedMetrics(t) {
		served[n] = true
	}
	p := parser.NewParser(parser.Options{})
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), f)
		require.NotEmpty(t, d.UID, "%s: a uid keeps links stable across imports", f)
		queries, varMetrics := d.queries()
		require.NotEmpty(t, queries, f)
		used := map[string]bool{}
		for _, m := range varMetrics {
			require.True(t, served[m], "%s: template variable reads %s, which cowbell does not serve", f, m)
			used[m] = true
		}
		for name, q := range queries {
			expr, err := p.ParseExpr(grafanaVars.Replace(q))
			require.NoError(t, err, "%s: panel %q: %s", f, name, q)
			names := metricNames(expr)
			require.NotEmpty(t, names, "%s: panel %q names no metric", f, name)
			for _, n := range names {
				require.True(t, served[n],
					"%s: panel %q queries %s, which cowbell does not serve", f, name, n)
				used[n] = true
			}
		}
		for _, n := range commitMetrics {
			require.True(t, scraped[n], "cowbell does not serve %s", n)
			require.True(t, used[n], "%s: no panel shows %s", f, n)
		}
		t.Logf("%s: %d queries over %d metrics", filepath.Base(f), len(queries), len(used))
	}
}

// metricNames returns the metric names the expression selects.
func metricNames(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out
}

// documentedMetrics returns the metric names in docs/metrics.md's tables.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/metrics.md")
	require.NoError(t, err)
	re := regexp.MustCompile("^\\| `(cowbell_[a-z0-9_]+)")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	require.NotEmpty(t, out, "no metrics found in docs/metrics.md")
	return out
}

// scrapeMetricNames builds cowbell, runs it with a file source, a notifier and
// metrics on, and returns the metric families its /metrics serves.
func scrapeMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	bin := cowbellBinary(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	logFile := filepath.Join(dir, "redis.log")
	require.NoError(t, os.WriteFile(logFile, nil, 0o644))
	cfg := filepath.Join(dir, "cowbell.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`host: dashboard-test
state_dir: %s
sources:
  - {name: redis, type: file, paths: [%s]}
notifiers:
  - {name: console, type: console}
metrics: {listen: "%s"}
`, filepath.Join(dir, "state"), logFile, addr)), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfg)
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	names := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			t.Fatalf("cowbell run exited: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("no /metrics from cowbell within a minute:\n%s", stderr.String())
		case <-tick.C:
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
				names[f[2]] = true
			}
		}
		_ = resp.Body.Close()
		require.NoError(t, sc.Err())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, names["cowbell_source_up"], "/metrics without cowbell_source_up")
		return names
	}
}

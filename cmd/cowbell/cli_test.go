package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// cowbell runs the built binary with args and returns stdout, stderr and exit code.
func cowbell(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "COWBELL_CONFIG=", "STATE_DIRECTORY="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return o.String(), e.String(), code
}

func TestCheckListsEveryError(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`
- id: t/one
  title: one
  match: 'unclosed ('
- id: t/two
  title: two
  match: x
  cooldwn: 5m
`), 0o600))
	cfg := writeConfig(t, dir, fmt.Sprintf("rules: {builtin: false, paths: [%q]}\n", rulesFile))
	_, stderr, code := cowbell(t, "", "check", "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, rulesFile+":4:")
	require.Contains(t, stderr, "missing closing )")
	require.Contains(t, stderr, rulesFile+":8:3:")
	require.Contains(t, stderr, `unknown field "cooldwn"`)

	bad := writeConfig(t, t.TempDir(), "sources:\n  - name: r\n    type: file\n    pahts: [x]\n")
	_, stderr, code = cowbell(t, "", "check", "--config", bad)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, bad+":4:5:")

	out, _, code := cowbell(t, "", "check")
	require.Equal(t, 0, code)
	require.Contains(t, out, "ok:")
}

func TestRulesTestAndList(t *testing.T) {
	out, _, code := cowbell(t, "", "rules", "test", "--samples", "../../rules/testdata/samples")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `\d+ rules, \d+ examples, \d+ sample lines: 0 failed`, out)

	dir := t.TempDir()
	bad := filepath.Join(dir, "r.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
- id: t/x
  title: x
  match: 'fork: Cannot allocate memory'
  examples:
    match: ["fork: Resource temporarily unavailable"]
`), 0o600))
	out, _, code = cowbell(t, "", "rules", "test", "--no-builtin", bad)
	require.Equal(t, 1, code)
	require.Contains(t, out, `FAIL t/x: should match: "fork: Resource temporarily unavailable"`)

	out, _, code = cowbell(t, "", "rules", "list")
	require.Equal(t, 0, code)
	require.Contains(t, out, "redis/bgsave-fork-enomem")
	require.Contains(t, out, "probe")
}

// sampleLog strips the annotations from a sample file, leaving the log.
func sampleLog(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../rules/testdata/samples", name))
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func TestReplayPostgresCrashIsOneIncident(t *testing.T) {
	log := sampleLog(t, "postgres-15-real.log")
	out, stderr, code := cowbell(t, log, "replay", "--json", "-")
	require.Equal(t, 0, code, stderr)
	var incs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		incs = append(incs, m)
	}
	require.Len(t, incs, 2, "one crash: opened, then resolved: %s", out)
	require.Equal(t, "firing", incs[0]["status"])
	require.Equal(t, "resolved", incs[1]["status"])
	require.Equal(t, incs[0]["key"], incs[1]["key"])
	require.Equal(t, "postgres/backend-sigkill", incs[0]["rule"].(map[string]any)["id"])
	require.Equal(t, "cowbell.incident/v1", incs[0]["schema"])
	require.NotNil(t, incs[0]["snapshot"], "replay reads this host's snapshot for the advice")
	// On the log's own time: the incident's first line is the signal-9 line's stamp.
	require.Contains(t, incs[0]["first_seen"], "2026-12-03T13:08:")

	out, _, code = cowbell(t, log, "replay", "--hits", "--json", "-")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The signal-9 line and the startup process's two recovery lines (which open an
	// incident on their own when the postmaster itself was killed) are match hits.
	require.Len(t, lines, 3, "%s", out)
	var hit struct {
		Rule     string            `json:"rule"`
		Line     string            `json:"line"`
		Captures map[string]string `json:"captures"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &hit))
	require.Equal(t, "postgres/backend-sigkill", hit.Rule)
	require.Contains(t, hit.Line, "was terminated by signal 9")
	require.NotEmpty(t, hit.Captures["pid"])
}

func TestReplayQuietOnOrdinaryLogs(t *testing.T) {
	for _, name := range []string{"ordinary.log", "near-misses.log"} {
		out, stderr, code := cowbell(t, sampleLog(t, name), "replay", "--hits", "-")
		require.Equal(t, 0, code, stderr)
		require.Empty(t, out, name)
	}
}

func TestSnapshotJSON(t *testing.T) {
	out, stderr, code := cowbell(t, "", "snapshot", "--json",
		"--proc", "../../enrich/testdata/mode2-near-limit/proc", "--sys", "../../enrich/testdata/mode2-near-limit/sys")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Snapshot struct {
			Commit struct {
				Mode  int     `json:"mode"`
				Ratio float64 `json:"ratio"`
			} `json:"commit"`
		} `json:"snapshot"`
		Probes []struct {
			Rule   string `json:"rule"`
			Firing bool   `json:"firing"`
		} `json:"probes"`
		Advice []struct {
			Rule string `json:"rule"`
			Text string `json:"text"`
		} `json:"advice"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 2, rep.Snapshot.Commit.Mode)
	require.InDelta(t, 0.94, rep.Snapshot.Commit.Ratio, 0.01)
	firing := map[string]bool{}
	for _, p := range rep.Probes {
		firing[p.Rule] = p.Firing
	}
	require.True(t, firing["host/commit-near-limit"], "%v", firing)
	require.NotEmpty(t, rep.Advice)

	table, _, code := cowbell(t, "", "snapshot", "--proc", "../../enrich/testdata/mode2-near-limit/proc")
	require.Equal(t, 0, code)
	require.Contains(t, table, "FIRING")
	require.Contains(t, table, "host/commit-near-limit")
}

// TestSnapshotAdviceOnlyOfFiringProbes: on a healthy host (the captured one: mode 0,
// no database, no limit near) no probe fires, so no advice is listed; the host
// recommendation is.
func TestSnapshotAdviceOnlyOfFiringProbes(t *testing.T) {
	out, stderr, code := cowbell(t, "", "snapshot", "--json",
		"--proc", "../../enrich/testdata/host/proc", "--sys", "../../enrich/testdata/host/sys")
	require.Equal(t, 0, code, stderr)
	var rep struct {
		Snapshot struct {
			Recommend struct {
				Mode int64  `json:"mode"`
				Text string `json:"text"`
			} `json:"recommend"`
		} `json:"snapshot"`
		Probes []struct {
			Rule   string `json:"rule"`
			Firing bool   `json:"firing"`
		} `json:"probes"`
		Advice []struct {
			Rule string `json:"rule"`
			Text string `json:"text"`
		} `json:"advice"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	firing := map[string]bool{}
	for _, p := range rep.Probes {
		firing[p.Rule] = p.Firing
	}
	for _, a := range rep.Advice {
		require.True(t, firing[a.Rule], "advice of %s, which does not fire: %q", a.Rule, a.Text)
	}
	require.NotEmpty(t, rep.Snapshot.Recommend.Text)

	table, _, code := cowbell(t, "", "snapshot", "--proc", "../../enrich/testdata/host/proc", "--sys", "../../enrich/testdata/host/sys")
	require.Equal(t, 0, code)
	require.Contains(t, table, "Host recommendation")
	require.NotContains(t, table, "Upgrade the kernel", "the 6.5 leak's advice on a 6.18 host")
	require.NotContains(t, table, " µs", "Redis's fork time, without Redis")
}

func TestNotifyTestReportsEachAnswer(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer broken.Close()
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(`
notifiers:
  - {name: good, type: webhook, url: %q}
  - {name: bad, type: webhook, url: "%s/secret-token-path"}
`, ok.URL, broken.URL))
	out, _, code := cowbell(t, "", "notify", "test", "--config", cfg)
	require.Equal(t, 1, code)
	require.Contains(t, out, "good (webhook): ok")
	require.Contains(t, out, "bad (webhook): FAILED")
	require.Contains(t, out, "404 Not Found: no such hook", "the endpoint's answer, quoted")
	require.Contains(t, out, "the daemon would not retry it")
	require.NotContains(t, out, "secret-token-path", "a URL is a secret")
	mu.Lock()
	require.Len(t, got, 1)
	require.Equal(t, true, got[0]["test"])
	mu.Unlock()

	out, _, code = cowbell(t, "", "notify", "test", "good", "--config", cfg)
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "bad")
}

func TestVersion(t *testing.T) {
	out, _, code := cowbell(t, "", "version")
	require.Equal(t, 0, code)
	require.Contains(t, out, "journal reader:")
}

// TestReplayTimeZone: a Redis stamp names no zone; --time-zone says which it is, and
// the incident's times move with it.
func TestReplayTimeZone(t *testing.T) {
	log := "1:M 30 Nov 2026 03:12:09.114 # Can't save in background: fork: Cannot allocate memory\n"
	firstSeen := func(zone string) time.Time {
		out, stderr, code := cowbell(t, log, "replay", "--json", "--no-snapshot", "--time-zone", zone, "-")
		require.Equal(t, 0, code, stderr)
		var inc struct {
			FirstSeen time.Time `json:"first_seen"`
		}
		require.NoError(t, json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &inc), out)
		return inc.FirstSeen
	}
	require.True(t, time.Date(2026, 11, 30, 3, 12, 9, 114e6, time.UTC).Equal(firstSeen("UTC")))
	require.True(t, time.Date(2026, 11, 30, 8, 12, 9, 114e6, time.UTC).Equal(firstSeen("America/New_York")))

	_, stderr, code := cowbell(t, log, "replay", "--time-zone", "Mars/Olympus", "-")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "--time-zone")
}

// TestReplayBadRules: the rules load while the first lines are read; a rule that does
// not compile still stops the replay with its file:line:col and nothing replayed,
// however much input is already read.
func TestReplayBadRules(t *testing.T) {
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "bad.yaml"),
		[]byte("- id: t/good\n  title: good\n  match: fine\n- id: t/bad\n  title: bad\n  match: \"a(b\"\n"), 0o600))
	log := strings.Repeat("Dec 07 10:00:00 host app[1]: fine, all fine\n", 100_000)
	out, stderr, code := cowbell(t, log, "replay", "--no-builtin", "--rules", d, "--hits", "-")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, `bad.yaml:6:10: rule "t/bad": match:`)
	require.Empty(t, out)
}

// TestReplayGzip: a rotated, gzipped log replays like the plain one, from a file or
// standard input; a gzip header over garbage is a clear error.
func TestReplayGzip(t *testing.T) {
	log := sampleLog(t, "postgres-15-real.log")
	plain, _, code := cowbell(t, log, "replay", "--json", "--no-snapshot", "-")
	require.Equal(t, 0, code)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte(log))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	path := filepath.Join(t.TempDir(), "postgresql-15-main.log.2.gz")
	require.NoError(t, os.WriteFile(path, gz.Bytes(), 0o644))

	fromFile, stderr, code := cowbell(t, "", "replay", "--json", "--no-snapshot", path)
	require.Equal(t, 0, code, stderr)
	fromStdin, stderr, code := cowbell(t, gz.String(), "replay", "--json", "--no-snapshot", "-")
	require.Equal(t, 0, code, stderr)
	require.Len(t, strings.Split(strings.TrimSpace(plain), "\n"), 2, "firing and resolved")
	// The inputs' names differ (path against "-"): compare what the incidents say.
	incidents := func(out string) (keys []string) {
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var inc struct{ Key, Status string }
			require.NoError(t, json.Unmarshal([]byte(l), &inc))
			keys = append(keys, inc.Key+" "+inc.Status)
		}
		return keys
	}
	require.Equal(t, incidents(plain), incidents(fromStdin))
	require.Len(t, incidents(fromFile), 2)

	_, stderr, code = cowbell(t, "\x1f\x8bnot gzip at all", "replay", "-")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "gzip")
}

// vendorFake records the JSON bodies posted to it and answers each with status and
// answer.
func vendorFake(t *testing.T, status int, answer string) (url string, bodies func() []map[string]any) {
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), got...)
	}
}

// `cowbell notify test` leaves nothing open: the PagerDuty, Zenduty and Alertmanager
// test alerts are resolved right after. It quotes each endpoint's answer, reports each
// Alertmanager of a cluster on its own (one refusing connections fails the run), says
// whether the daemon would retry a failure, and the timeouts in force.
func TestNotifyTestResolvesAndReportsEveryEndpoint(t *testing.T) {
	pdURL, pd := vendorFake(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)
	zdURL, zd := vendorFake(t, http.StatusOK, `{"message":"Alert created"}`)
	busyURL, _ := vendorFake(t, http.StatusServiceUnavailable, "try later")
	am := testenv.Alertmanager(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(`
host: test-host
outbox: {timeout: 20s}
notifiers:
  - {name: pd, type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdefabcdef, url: "%s/v2/enqueue", timeout: 7s}
  - {name: zd, type: zenduty, url: "%s/api/events/INTEGRATIONKEY0123/"}
  - {name: am, type: alertmanager, urls: [%q, %q]}
  - {name: busy, type: webhook, url: %q}
`, pdURL, zdURL, am, dead, busyURL))
	out, stderr, code := cowbell(t, "", "notify", "test", "--config", cfg)
	require.Equal(t, 1, code, stderr)
	t.Logf("notify test said:\n%s", out)

	events := pd()
	require.Len(t, events, 2)
	require.Equal(t, "trigger", events[0]["event_action"])
	require.Equal(t, "resolve", events[1]["event_action"], "the test alert is resolved right after")
	require.Equal(t, events[0]["dedup_key"], events[1]["dedup_key"])
	alerts := zd()
	require.Len(t, alerts, 2)
	require.Equal(t, "resolved", alerts[1]["alert_type"])
	require.Equal(t, alerts[0]["entity_id"], alerts[1]["entity_id"])

	require.Contains(t, out, "pd (pagerduty): ok")
	require.Contains(t, out, `trigger: POST `+strings.TrimPrefix(pdURL, "http://")+`: 202 Accepted: {"status":"success","message":"Event processed"}`)
	require.Contains(t, out, "timeouts: 20s per attempt (outbox.timeout), 7s per request (timeout)")
	require.Contains(t, out, "zd (zenduty): ok")
	require.NotContains(t, out, "INTEGRATIONKEY0123", "a URL is a secret")
	require.NotContains(t, out, "R0UT1NGKEY", "the routing key is a secret")

	require.Contains(t, out, "am (alertmanager): delivered, but an endpoint FAILED")
	require.Contains(t, out, "trigger: POST "+strings.TrimPrefix(am, "http://")+": 200 OK")
	require.Regexp(t, `trigger: POST `+regexp.QuoteMeta(strings.TrimPrefix(dead, "http://"))+`: no answer: .*connection refused`, out)
	require.Contains(t, out, "resolve: POST "+strings.TrimPrefix(am, "http://")+": 200 OK")

	require.Contains(t, out, "busy (webhook): FAILED")
	require.Contains(t, out, "503 Service Unavailable: try later")
	require.Contains(t, out, "the daemon would retry it")
}

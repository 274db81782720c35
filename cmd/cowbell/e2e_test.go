package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// binary is the cowbell built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cowbell-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cowbell")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cowbell:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := testenv.StopJournald(); err != nil {
		fmt.Fprintln(os.Stderr, "stop journald:", err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// receiver is a webhook endpoint that records incident bodies and can be told to fail.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any
	attempts int
	failing  bool
	reject   bool // answer 400: a permanent rejection
	got      chan struct{}
	tried    chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 100), tried: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.attempts++
		failing, reject := r.failing, r.reject
		if !failing && !reject {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("webhook body is not JSON: %v", err)
			}
			r.bodies = append(r.bodies, m)
		}
		r.mu.Unlock()
		select {
		case r.tried <- struct{}{}:
		default:
		}
		if failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if reject {
			http.Error(w, "invalid token", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		r.got <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setFailing(v bool) { r.mu.Lock(); r.failing = v; r.mu.Unlock() }

func (r *receiver) setRejecting(v bool) { r.mu.Lock(); r.reject = v; r.mu.Unlock() }

func (r *receiver) received() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...)
}

// waitFor waits for the receiver to take n more bodies (a generous bound: the binary
// is built with -race).
func (r *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30*time.Second + time.Duration(n)*100*time.Millisecond)
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("webhook got %d of %d expected notifications", i, n)
		}
	}
}

// proc is a running `cowbell run`.
type proc struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	log    *lockedWriter // writes stderr
	done   chan error
}

func startDaemon(t *testing.T, cfg string) *proc {
	t.Helper()
	return startProc(t, exec.Command(binary, "run", "--config", cfg, "--log-level", "debug"))
}

// startProc starts cmd, a cowbell run however wrapped, and kills it at cleanup.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	d := &proc{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	d.log = &lockedWriter{w: d.stderr}
	cmd.Stderr = d.log
	require.NoError(t, cmd.Start())
	go func() { _, _ = io.Copy(io.Discard, stdout); d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-d.done //nolint:errcheck // killed: its exit status says nothing
		}
		if t.Failed() {
			t.Logf("cowbell stderr:\n%s", d.stderr.String())
		}
	})
	return d
}

func (d *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(sig))
	select {
	case err := <-d.done:
		if sig == syscall.SIGTERM {
			require.NoError(t, err, "cowbell did not exit cleanly on SIGTERM")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cowbell did not stop")
	}
}

// waitLog waits until cowbell has logged a line containing s.
func (d *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if strings.Contains(d.logged(), s) {
			return
		}
		select {
		case <-tick.C:
		case err := <-d.done:
			t.Fatalf("cowbell exited (%v) before logging %q", err, s)
		case <-deadline:
			t.Fatalf("cowbell did not log %q", s)
		}
	}
}

// logged is what cowbell has logged so far.
func (d *proc) logged() string {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	return d.stderr.String()
}

// waitLogCount waits until cowbell has logged at least n lines containing s, and
// returns how many it has.
func (d *proc) waitLogCount(t *testing.T, s string, n int) int {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if c := strings.Count(d.logged(), s); c >= n {
			return c
		}
		select {
		case <-tick.C:
		case err := <-d.done:
			t.Fatalf("cowbell exited (%v) before logging %q %d times", err, s, n)
		case <-deadline:
			t.Fatalf("cowbell logged %q %d times, not %d", s, strings.Count(d.logged(), s), n)
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// scrapeUntil fetches a metrics page until it contains want (or fails after 30s).
func scrapeUntil(t *testing.T, url, want string) string {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	var body []byte
	for {
		resp, err := http.Get(url) // refused until cowbell listens: try again
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			if strings.Contains(string(body), want) {
				return string(body)
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("metrics never showed %q:\n%s", want, body)
		}
	}
}

// criLine is a CRI log record: its timestamp is the line's event time, so cooldowns
// are exercised on log time without waiting.
func criLine(at time.Time, msg string) string {
	return at.UTC().Format(time.RFC3339Nano) + " stdout F " + msg + "\n"
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "cowbell.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

const seedLine = "Error: BGSAVE failed because fork failed: Cannot allocate memory"

func seedEntry(t *testing.T) (path string, entry map[string]any) {
	t.Helper()
	path = "../../rules/testdata/kb/redis-bgsave-fork.json"
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &entry))
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	return abs, entry
}

func machineOvercommit(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	require.NoError(t, err)
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return float64(v)
}

// TestEndToEndSeedLine runs cowbell as a real process: a line appended to a tailed
// file reaches the seed knowledge-base rule, becomes an incident with a live snapshot,
// and is delivered to a webhook; a repeat inside the cooldown sends nothing; the next
// one after it carries the folded count.
func TestEndToEndSeedLine(t *testing.T) {
	dir := t.TempDir()
	seedPath, entry := seedEntry(t)
	logPath := filepath.Join(dir, "0.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q], default_cooldown: 10m}
sources:
  - {name: redis, type: file, paths: [%q], format: cri, start_at: beginning, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
metrics: {listen: %q}
`, dir, seedPath, logPath, hook.URL, metricsAddr))
	d := startDaemon(t, cfg)

	// Recent stamps (within incidents.max_age), twelve minutes of log time apart.
	t0 := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	testenv.AppendFile(t, logPath, criLine(t0, "1:M ordinary line that matches nothing"))
	testenv.AppendFile(t, logPath, criLine(t0.Add(time.Second), seedLine))
	hook.waitFor(t, 1)
	first := hook.received()[0]
	require.Equal(t, "cowbell.incident/v1", first["schema"])
	require.Equal(t, "firing", first["status"])
	require.Equal(t, entry["root_cause"], first["root_cause"])
	rule := first["rule"].(map[string]any)
	require.Equal(t, entry["id"], rule["id"])
	snap := first["snapshot"].(map[string]any)
	vm := snap["vm"].(map[string]any)
	require.Equal(t, machineOvercommit(t), vm["overcommit_memory"], "snapshot must be this machine's")
	require.EqualValues(t, 1, first["count"])

	// Inside the 10m cooldown (on the log's own time): folded, not sent.
	testenv.AppendFile(t, logPath, criLine(t0.Add(2*time.Minute), seedLine))
	testenv.AppendFile(t, logPath, criLine(t0.Add(3*time.Minute), seedLine))
	// After it: sent, carrying what was folded in.
	testenv.AppendFile(t, logPath, criLine(t0.Add(12*time.Minute), seedLine))
	hook.waitFor(t, 1)
	got := hook.received()
	require.Len(t, got, 2, "repeats inside the cooldown must not be sent")
	second := got[1]
	require.Equal(t, first["key"], second["key"])
	require.EqualValues(t, 4, second["count"])
	require.EqualValues(t, 3, second["folded"])

	// What happened is visible to Prometheus: lines read per source, incident
	// decisions, deliveries.
	// (The delivery counter moves just after the endpoint answered: poll for it.)
	metrics := scrapeUntil(t, "http://"+metricsAddr+"/metrics", `cowbell_notifications_sent_total{notifier="hook"} 2`)
	require.Contains(t, metrics, `cowbell_lines_read_total{source="redis"} 5`)
	require.Contains(t, metrics, `cowbell_incident_events_total{event="fold",rule="redis/err-bgsave-failed-disk"} 2`)
	// Every series the shipped alerts on cowbell itself use exists from the start,
	// at zero, so increase() and "== 0" see it before the first failure.
	alerts, err := os.ReadFile("../../deploy/prometheus/cowbell-alerts.yaml")
	require.NoError(t, err)
	used := regexp.MustCompile(`cowbell_[a-z_]+`).FindAllString(string(alerts), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		require.Regexp(t, `(?m)^`+name+`\{[^}]*(source="redis"|notifier="hook")`, metrics, "alerts use %s", name)
	}
	require.Contains(t, metrics, `cowbell_source_up{source="redis"} 1`)

	d.stop(t, syscall.SIGTERM)
	require.Len(t, hook.received(), 2)
}

// TestEndToEndPlainStamps: a plain Redis log whose stamps carry no zone runs on
// their time once time_zone says which zone that is. The four hits below span twelve
// minutes of log time but are written within a second: on read time the last would
// fold into the 10m cooldown and the second notification would never come.
func TestEndToEndPlainStamps(t *testing.T) {
	dir := t.TempDir()
	seedPath, _ := seedEntry(t)
	logPath := filepath.Join(dir, "redis.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q], default_cooldown: 10m}
sources:
  - {name: redis, type: file, paths: [%q], format: plain, time_zone: UTC, start_at: beginning, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
`, dir, seedPath, logPath, hook.URL))
	startDaemon(t, cfg)

	redisLine := func(at time.Time) string {
		return "1:M " + at.UTC().Format("02 Jan 2006 15:04:05.000") + " # " + seedLine + "\n"
	}
	// Half an hour ago: within incidents.max_age, so the first line still pages.
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	for _, d := range []time.Duration{0, 2 * time.Minute, 3 * time.Minute, 12 * time.Minute} {
		testenv.AppendFile(t, logPath, redisLine(t0.Add(d)))
	}
	hook.waitFor(t, 2)
	got := hook.received()
	require.Len(t, got, 2)
	require.EqualValues(t, 1, got[0]["count"])
	require.EqualValues(t, 4, got[1]["count"])
	require.EqualValues(t, 3, got[1]["folded"])
	lines := got[1]["lines"].([]any)
	last := lines[len(lines)-1].(map[string]any)
	at, err := time.Parse(time.RFC3339Nano, last["time"].(string))
	require.NoError(t, err)
	require.True(t, t0.Add(12*time.Minute).Equal(at), "the line's time is its stamp: %v", at)
}

// TestEndToEndKillDuringOutage: the endpoint is down, cowbell is killed with -9 while
// notifications wait in its outbox; after a restart, with the endpoint back, every
// incident arrives exactly once.
func TestEndToEndKillDuringOutage(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(`
- id: test/fork-enomem
  title: fork failed
  severity: critical
  match: '(?P<prog>\w+): fork: Cannot allocate memory'
  key: '{{.Rule}}/{{.Captures.prog}}'
  cooldown: 1h
`), 0o600))
	logPath := filepath.Join(dir, "app.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	hook.setFailing(true)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: beginning, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 50ms, max_backoff: 200ms}
`, dir, rulesPath, logPath, hook.URL))
	d := startDaemon(t, cfg)
	progs := []string{"alpha", "bravo", "charlie", "delta"}
	for _, p := range progs {
		testenv.AppendFile(t, logPath, p+": fork: Cannot allocate memory\n")
	}
	// Wait until delivery is being attempted (and failing), then kill -9.
	deadline := time.After(30 * time.Second)
	for i := 0; i < 3; i++ {
		select {
		case <-hook.tried:
		case <-deadline:
			t.Fatal("no delivery attempt reached the endpoint")
		}
	}
	d.stop(t, syscall.SIGKILL)

	// What waits is visible while cowbell is down.
	list, stderr, code := cowbell(t, "", "outbox", "list", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, list, "hook")
	require.Contains(t, list, "pending")
	require.Contains(t, list, "test/fork-enomem/alpha")

	hook.setFailing(false)
	d2 := startDaemon(t, cfg)
	hook.waitFor(t, len(progs))
	d2.stop(t, syscall.SIGTERM)
	keys := map[string]int{}
	for _, b := range hook.received() {
		keys[b["key"].(string)]++
	}
	for _, p := range progs {
		require.Equal(t, 1, keys["test/fork-enomem/"+p], "incident for %s: %v", p, keys)
	}
	require.Len(t, hook.received(), len(progs))
}

// TestEndToEndDeadLetterRetry: an endpoint that rejects a notification for good (a
// 400, say a revoked token) sends it to the dead letters; once the endpoint is fixed,
// `cowbell outbox retry` queues it again and the next start delivers it.
func TestEndToEndDeadLetterRetry(t *testing.T) {
	dir := t.TempDir()
	seedPath, _ := seedEntry(t)
	logPath := filepath.Join(dir, "redis.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	hook.setRejecting(true)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: redis, type: file, paths: [%q], start_at: beginning, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
metrics: {listen: %q}
`, dir, seedPath, logPath, hook.URL, metricsAddr))
	d := startDaemon(t, cfg)
	testenv.AppendFile(t, logPath, seedLine+"\n")
	scrapeUntil(t, "http://"+metricsAddr+"/metrics", `cowbell_outbox_dead_total{notifier="hook"} 1`)
	d.stop(t, syscall.SIGTERM)
	logged := d.stderr.String()
	require.Contains(t, logged, "delivery given up")
	require.Contains(t, logged, "invalid token", "the endpoint's answer is logged")
	require.NotRegexp(t, `\n\t/\S+\.go:\d+`, logged, "no Go stack trace under a dead letter")

	list, stderr, code := cowbell(t, "", "outbox", "list", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `hook\s+dead\s+`, list)
	require.Contains(t, list, "invalid token", "the endpoint's answer is kept")

	hook.setRejecting(false)
	out, stderr, code := cowbell(t, "", "outbox", "retry", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "hook: 1 dead letter(s) requeued\n", out)
	list, _, _ = cowbell(t, "", "outbox", "list", "--config", cfg)
	require.Regexp(t, `hook\s+pending\s+`, list)
	require.NotRegexp(t, `hook\s+dead\s+`, list)

	d2 := startDaemon(t, cfg)
	hook.waitFor(t, 1)
	d2.stop(t, syscall.SIGTERM)
	require.Len(t, hook.received(), 1)
	require.Equal(t, "firing", hook.received()[0]["status"])

	out, _, code = cowbell(t, "", "outbox", "purge", "hook", "--config", cfg)
	require.Equal(t, 0, code)
	require.Equal(t, "hook: 0 dead letter(s) deleted\n", out)
	_, _, code = cowbell(t, "", "outbox", "purge", "--config", cfg)
	require.NotEqual(t, 0, code, "purge names what it deletes")
}

// TestDefaultsDescribeWhatTheyWatch: `cowbell run` with no config prints what it
// watches and where its state is, and stops cleanly.
func TestDefaultsDescribeWhatTheyWatch(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "run")
	cmd.Env = append(os.Environ(), "STATE_DIRECTORY="+dir, "COWBELL_CONFIG=")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	deadline := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "cowbell exited early: %v", seen)
			seen = append(seen, l)
			ready = strings.Contains(l, "state:")
		case <-deadline:
			t.Fatalf("no description printed: %v", seen)
		}
	}
	out := strings.Join(seen, "\n")
	require.Contains(t, out, "configuration from embedded defaults")
	require.Contains(t, out, "notifying: console: console on stdout")
	require.Contains(t, out, dir)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("cowbell did not stop on SIGTERM")
	}
}

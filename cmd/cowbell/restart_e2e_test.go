package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/state"
)

// numberedRule is a rule under which every numbered line ("seq=42 ") is an incident
// of its own.
const numberedRule = `
- id: test/numbered
  title: numbered line
  match: 'seq=(?P<n>\d+) '
  key: '{{.Rule}}/{{.Captures.n}}'
`

// numberedLines is the text of lines seq=from..to-1.
func numberedLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "app[1]: seq=%d payload\n", i)
	}
	return b.String()
}

// requireOnce checks that the receiver got exactly the incidents of want, once each,
// deduplicating as docs/webhook.md tells receivers to: a notification that comes
// again after a crash (key, status, count and last_seen the same) is the same one.
func requireOnce(t *testing.T, hook *receiver, want []int) {
	t.Helper()
	seen := map[string]int{}
	dedup := map[string]bool{}
	for _, b := range hook.received() {
		id := fmt.Sprint(b["key"], b["status"], b["count"], b["last_seen"])
		if !dedup[id] {
			dedup[id] = true
			seen[b["key"].(string)]++
		}
	}
	requireNumbered(t, seen, want)
	require.Len(t, dedup, len(want), "no other incident")
}

// requireNumbered checks that seen (notifications by key) holds each incident of want
// (test/numbered/N) exactly once.
func requireNumbered(t *testing.T, seen map[string]int, want []int) {
	t.Helper()
	var missing, twice []int
	for _, i := range want {
		switch seen[fmt.Sprintf("test/numbered/%d", i)] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			twice = append(twice, i)
		}
	}
	require.Empty(t, missing, "incidents never notified")
	require.Empty(t, twice, "incidents notified twice")
}

// upTo is 0, 1, ..., n-1.
func upTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// distinct counts the notifications a receiver got, deduplicated as requireOnce does.
func distinct(hook *receiver) int {
	ids := map[string]bool{}
	for _, b := range hook.received() {
		ids[fmt.Sprint(b["key"], b["status"], b["count"], b["last_seen"])] = true
	}
	return len(ids)
}

// waitDistinct waits until the receiver got n distinct notifications in all.
func waitDistinct(t *testing.T, hook *receiver, n int) {
	t.Helper()
	deadline := time.After(30*time.Second + time.Duration(n)*100*time.Millisecond)
	for distinct(hook) < n {
		select {
		case <-hook.got:
		case <-deadline:
			t.Fatalf("webhook got %d of %d expected notifications", distinct(hook), n)
		}
	}
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestEndToEndRestartWhileWorldChanges: cowbell (start_at: end) is killed with -9,
// and while it is down a quiet file gets lines, a new file is created, and the busy
// file is truncated after a copy, rotated again, and its oldest generation gzipped.
// After the restart every line written while it was down is an incident, once.
func TestEndToEndRestartWhileWorldChanges(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(numberedRule), 0o600))
	busy, quiet := filepath.Join(logs, "busy.log"), filepath.Join(logs, "quiet.log")
	require.NoError(t, os.MkdirAll(logs, 0o755))
	testenv.AppendFile(t, busy, "old, before the first start\n")
	testenv.AppendFile(t, quiet, "old too\n")
	hook := newReceiver(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], poll_interval: 50ms, rotate_grace: 1s}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 20ms, max_backoff: 100ms}
`, dir, rulesPath, filepath.Join(logs, "*.log"), hook.URL))

	d := startDaemon(t, cfg)
	d.waitLog(t, "following file") // start_at: end is where the files are at the first scan
	testenv.AppendFile(t, busy, numberedLines(0, 10))
	hook.waitFor(t, 10)
	d.stop(t, syscall.SIGKILL)

	testenv.AppendFile(t, quiet, numberedLines(100, 150))
	testenv.AppendFile(t, filepath.Join(logs, "new.log"), numberedLines(200, 250))
	w, err := os.OpenFile(busy, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.WriteString(numberedLines(10, 20))
	require.NoError(t, err)
	b, err := os.ReadFile(busy) // logrotate copytruncate
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(busy+".1", b, 0o644))
	require.NoError(t, os.Truncate(busy, 0))
	_, err = w.WriteString(numberedLines(20, 30))
	require.NoError(t, err)
	require.NoError(t, os.Rename(busy+".1", busy+".2")) // then a rename rotation
	require.NoError(t, os.Rename(busy, busy+".1"))
	testenv.AppendFile(t, busy, numberedLines(30, 40))
	testenv.GzipFile(t, busy+".2")

	d2 := startDaemon(t, cfg)
	waitDistinct(t, hook, 140)
	d2.stop(t, syscall.SIGTERM)
	requireOnce(t, hook, append(append(span(0, 40), span(100, 150)...), span(200, 250)...))
}

// TestEndToEndStateOfThePreviousRelease: a state store the previous release wrote
// (cursors keyed by the bare path, in its f1 format) resumes where it says after the
// upgrade, neither from start_at nor from the beginning.
func TestEndToEndStateOfThePreviousRelease(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(numberedRule), 0o600))
	logPath := filepath.Join(dir, "app.log")
	done := numberedLines(0, 5)
	testenv.AppendFile(t, logPath, done+numberedLines(5, 10))
	fi, err := os.Stat(logPath)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	head, err := os.ReadFile(logPath)
	require.NoError(t, err)
	h := fnv.New64a()
	h.Write(head[:64])
	// What the previous release stored after handling seq=4.
	f1 := fmt.Sprintf("f1;c:%d:%d:64:%x:%s:%d", st.Dev, st.Ino, h.Sum64(), url.QueryEscape(logPath), len(done))
	store, err := state.Open(filepath.Join(dir, "state"), zap.NewNop())
	require.NoError(t, err)
	require.NoError(t, store.Save(context.Background(), sources.Cursor{Stream: logPath, Pos: f1}))
	require.NoError(t, store.Close())

	hook := newReceiver(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: end, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 20ms, max_backoff: 100ms}
`, dir, rulesPath, logPath, hook.URL))
	d := startDaemon(t, cfg)
	testenv.AppendFile(t, logPath, numberedLines(10, 12))
	hook.waitFor(t, 7)
	d.stop(t, syscall.SIGTERM)
	requireOnce(t, hook, span(5, 12))
}

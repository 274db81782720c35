package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// TestEndToEndRotationAndKill9: a writer appends numbered lines while the log is
// rotated by rename (twice) and cowbell is killed with -9 and restarted in the
// middle. Every line is a distinct incident; the endpoint is down until the end, so
// nothing is in flight at the kill. Afterwards every numbered incident arrives exactly
// once: no line skipped by the restart or the rotations, none queued twice.
func TestEndToEndRotationAndKill9(t *testing.T) {
	const total = 800
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(numberedRule), 0o600))
	logPath := filepath.Join(dir, "app.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	hook.setFailing(true)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: beginning, poll_interval: 50ms, rotate_grace: 2s}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 20ms, max_backoff: 100ms}
`, dir, rulesPath, logPath, hook.URL))

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := fmt.Fprintf(f, "app[1]: seq=%d payload\n", i)
			require.NoError(t, err)
		}
	}
	rotate := func(n int) { // logrotate's default: rename, then the program reopens
		require.NoError(t, os.Rename(logPath, fmt.Sprintf("%s.%d", logPath, n)))
		require.NoError(t, f.Close())
		f, err = os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		require.NoError(t, err)
	}

	d := startDaemon(t, cfg)
	write(0, 200)
	// cowbell must have seen the file before its first rotation: a file renamed
	// away before anyone opened it is out of reach for any follower of app.log.
	waitAttempt(t, hook)
	rotate(1)
	write(200, 350)
	d.stop(t, syscall.SIGKILL) // mid-stream, with a rotated file still being drained
	write(350, 500)
	rotate(2)
	write(500, 650)
	d2 := startDaemon(t, cfg)
	write(650, total)
	require.NoError(t, f.Close())

	hook.setFailing(false)
	hook.waitFor(t, total)
	d2.stop(t, syscall.SIGTERM)
	seen := map[string]int{}
	for _, b := range hook.received() {
		seen[b["key"].(string)]++
	}
	requireNumbered(t, seen, upTo(total))
	require.Len(t, hook.received(), total)
}

// waitAttempt waits until delivery is being attempted at the (failing) endpoint.
func waitAttempt(t *testing.T, r *receiver) {
	t.Helper()
	select {
	case <-r.tried:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery attempt reached the endpoint")
	}
}

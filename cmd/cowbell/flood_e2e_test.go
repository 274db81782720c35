package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEndToEndKill9DuringFlood: a log holds a flood of ordinary lines with numbered
// incident lines spread through it, so that, while it is read, one batch's
// transaction is being written while the next batch is being read. cowbell is killed
// with -9 in the middle of it, once the incident a third of the way in is decided,
// and started again. The endpoint is down until the end. Afterwards every numbered
// incident arrives exactly once: none lost with a transaction the kill cut off, none
// queued twice by lines read again.
func TestEndToEndKill9DuringFlood(t *testing.T) {
	const (
		incidents = 300
		between   = 500 // ordinary lines before each incident line
	)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(numberedRule), 0o600))
	logPath := filepath.Join(dir, "app.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	for i := range incidents {
		for j := range between {
			_, err := fmt.Fprintf(w, "app[1]: GET /api/v1/items/%d 200 took=%dms\n", i*between+j, j%97)
			require.NoError(t, err)
		}
		_, err := fmt.Fprintf(w, "app[1]: seq=%d payload\n", i)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	hook := newReceiver(t)
	hook.setFailing(true)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: beginning}
notifiers:
  - {name: hook, type: webhook, url: %q}
outbox: {min_backoff: 20ms, max_backoff: 100ms}
`, dir, rulesPath, logPath, hook.URL))

	d := startDaemon(t, cfg)
	d.waitLog(t, fmt.Sprintf(`"incident": "test/numbered/%d"`, incidents/3))
	d.stop(t, syscall.SIGKILL)
	d.log.mu.Lock()
	decided := strings.Contains(d.stderr.String(), fmt.Sprintf(`"incident": "test/numbered/%d"`, incidents-1))
	d.log.mu.Unlock()
	require.False(t, decided, "the kill came after the flood was read: make it longer")
	d2 := startDaemon(t, cfg)

	hook.setFailing(false)
	hook.waitFor(t, incidents)
	d2.stop(t, syscall.SIGTERM)
	seen := map[string]int{}
	for _, b := range hook.received() {
		seen[b["key"].(string)]++
	}
	requireNumbered(t, seen, upTo(incidents))
	require.Len(t, hook.received(), incidents)
}

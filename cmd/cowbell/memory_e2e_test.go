package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// TestEndToEndTrimmedKeepsWorking: cowbell trims its memory (memory.trim_after) once
// its sources have opened, and again after a reload; the program file's pages it
// gives back fall out of its resident set, and it goes on following, matching and
// delivering from the pages it maps back.
func TestEndToEndTrimmedKeepsWorking(t *testing.T) {
	dir := t.TempDir()
	seedPath, _ := seedEntry(t)
	logPath := filepath.Join(dir, "0.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q], default_cooldown: 1s}
sources:
  - {name: redis, type: file, paths: [%q], format: cri, start_at: beginning, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
memory: {trim_after: 100ms}
`, dir, seedPath, logPath, hook.URL))
	d := startDaemon(t, cfg)

	trims := regexp.MustCompile(`memory trimmed.*"file_before": (\d+), "file_after": (\d+).*"program_unmapped": (\d+)`)
	t0 := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	for i := range 3 {
		if i > 0 {
			require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
		}
		d.waitLogCount(t, "memory trimmed", i+1)
		if i == 0 {
			m := trims.FindStringSubmatch(d.logged())
			require.NotNil(t, m, "the trim's log line carries its figures")
			before, _ := strconv.ParseUint(m[1], 10, 64)
			after, _ := strconv.ParseUint(m[2], 10, 64)
			unmapped, _ := strconv.ParseUint(m[3], 10, 64)
			require.Positive(t, unmapped, "the trim unmapped the program's pages")
			require.Less(t, after, before, "the resident file pages fall")
		}
		testenv.AppendFile(t, logPath, criLine(t0.Add(time.Duration(i)*time.Minute), seedLine))
		hook.waitFor(t, 1)
		require.Len(t, hook.received(), i+1, "after trim %d", i+1)
	}
	d.stop(t, syscall.SIGTERM)
}

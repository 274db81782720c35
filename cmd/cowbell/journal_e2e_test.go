package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// TestEndToEndJournalOOMKill runs cowbell on a real journald: kernel OOM-killer lines
// logged under a unique identifier (standing in for the kernel transport, which only
// the kernel can write) reach the built-in kernel/oom-kill rule through both journal
// readers and arrive at a webhook naming the killed task and pid, with the journal
// fields as labels. A restart resumes from the journal cursor: nothing is paged twice.
func TestEndToEndJournalOOMKill(t *testing.T) {
	for _, reader := range []string{"sdjournal", "journalctl"} {
		t.Run(reader, func(t *testing.T) {
			env := testenv.Journald(t)
			id := fmt.Sprintf("cowbell-e2e-%s-%d", reader, time.Now().UnixNano())
			hook := newReceiver(t)
			cfg := journalConfig(t, id, reader, hook.URL)
			// The identifier is new, so reading from the beginning reads only this
			// test's lines, however soon after the start they are sent.
			d := startDaemon(t, cfg)
			pid := strconv.Itoa(40000 + int(time.Now().UnixNano()%10000))
			env.Send(t, id, "Out of memory: Killed process "+pid+" (postgres) total-vm:8801032kB, anon-rss:6390212kB, file-rss:0kB, shmem-rss:131072kB, UID:999 pgtables:12960kB oom_score_adj:0", nil)
			hook.waitFor(t, 1)
			inc := hook.received()[0]
			require.Equal(t, "kernel/oom-kill", inc["rule"].(map[string]any)["id"])
			caps := inc["captures"].(map[string]any)
			require.Equal(t, pid, caps["pid"])
			require.Equal(t, "postgres", caps["task"])
			labels := inc["labels"].(map[string]any)
			require.Equal(t, id, labels["identifier"])
			d.stop(t, syscall.SIGTERM)

			// Restart: the cursor resumes after the paged line; a new kill is paged once.
			d2 := startDaemon(t, cfg)
			env.Send(t, id, "Out of memory: Killed process 1"+pid+" (redis-server) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:999 pgtables:1kB oom_score_adj:0", nil)
			hook.waitFor(t, 1)
			d2.stop(t, syscall.SIGTERM)
			got := hook.received()
			require.Len(t, got, 2, "the first kill must not be paged again after the restart")
			require.Equal(t, "1"+pid, got[1]["captures"].(map[string]any)["pid"])
		})
	}
}

// TestEndToEndJournalWithoutLibsystemd runs the cgo binary where libsystemd.so.0
// cannot be loaded: a private mount namespace with the library's file covered by an
// empty one. With reader auto it falls back to journalctl and still pages; with
// reader sdjournal it refuses to start and says why.
func TestEndToEndJournalWithoutLibsystemd(t *testing.T) {
	testenv.NeedRoot(t)
	unshare := testenv.NeedBinary(t, "unshare")
	libs, _ := filepath.Glob("/usr/lib/*/libsystemd.so.0")
	if len(libs) == 0 {
		testenv.Missing(t, "libsystemd.so.0 (to hide it)")
	}
	lib, err := filepath.EvalSymlinks(libs[0])
	require.NoError(t, err)
	if !strings.HasPrefix(journalReader, "sdjournal") {
		t.Skip("a CGO_ENABLED=0 build never loads libsystemd")
	}
	env := testenv.Journald(t)
	// The library's file is covered only inside the new mount namespace; $0 and $@
	// carry the paths, so nothing is spliced into the script.
	hidden := func(args ...string) *exec.Cmd {
		script := `mount --bind /dev/null "$0" && exec "$@"`
		return exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, lib, binary}, args...)...)
	}
	for _, reader := range []string{"auto", "sdjournal"} {
		t.Run(reader, func(t *testing.T) {
			id := fmt.Sprintf("cowbell-nolib-%s-%d", reader, time.Now().UnixNano())
			hook := newReceiver(t)
			cfg := journalConfig(t, id, reader, hook.URL)
			if reader == "sdjournal" {
				out, err := hidden("run", "--config", cfg).CombinedOutput()
				require.Error(t, err, "%s", out)
				require.Contains(t, string(out), "reader sdjournal")
				require.Contains(t, string(out), "libsystemd.so.0")
				return
			}
			d := startProc(t, hidden("run", "--config", cfg, "--log-level", "debug"))
			env.Send(t, id, "Out of memory: Killed process 4242 (redis-server) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:999 pgtables:1kB oom_score_adj:0", nil)
			hook.waitFor(t, 1)
			require.Equal(t, "4242", hook.received()[0]["captures"].(map[string]any)["pid"])
			d.stop(t, syscall.SIGTERM)
			require.Contains(t, d.stderr.String(), "reading the journal through journalctl")
			require.Contains(t, d.stderr.String(), "libsystemd.so.0")
		})
	}
}

// journalConfig writes a configuration that reads the journal entries of identifier
// id from the beginning with reader, through the built-in pack, to the webhook at url.
func journalConfig(t *testing.T, id, reader, url string) string {
	t.Helper()
	dir := t.TempDir()
	return writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: true}
sources:
  - {name: kernel, type: journald, identifiers: [%q], reader: %s, start_at: beginning}
notifiers:
  - {name: hook, type: webhook, url: %q}
  - {name: quiet, type: console, output: stderr}
# The host's probes (a redis-server another test runs, say) go elsewhere: the hook
# hears of the journal's lines only.
routes:
  - {rules: ["kernel/*"], notifiers: [hook]}
default_notifiers: [quiet]
`, dir, id, reader, url))
}

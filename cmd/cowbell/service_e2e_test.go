package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// notifySocket is a service manager's end of $NOTIFY_SOCKET: it collects what cowbell
// tells it, one datagram a message.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	n := &notifySocket{path: path, msgs: make(chan string, 256)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// await returns the next message holding want, failing after a while; what came
// before it is returned too.
func (n *notifySocket) await(t *testing.T, want string) (msg string, before []string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q; got %q", want, before)
			}
			if strings.Contains(m, want) {
				return m, before
			}
			before = append(before, m)
		case <-deadline:
			t.Fatalf("no %q from cowbell; got %q", want, before)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServiceLifecycle runs cowbell as systemd would (NOTIFY_SOCKET, WatchdogSec=):
// READY=1 only once its sources have opened, with /readyz agreeing; watchdog pings
// while it works; SIGHUP reloads (RELOADING=1, then READY=1), a broken configuration
// is refused and the running one kept, a good one takes effect without paging again
// for an open incident; SIGTERM says STOPPING=1 and exits cleanly.
func TestServiceLifecycle(t *testing.T) {
	dir := t.TempDir()
	seedPath, _ := seedEntry(t)
	logPath := filepath.Join(dir, "redis.log")
	otherLog := filepath.Join(dir, "other.log")
	testenv.AppendFile(t, logPath, "")
	testenv.AppendFile(t, otherLog, "")
	hook := newReceiver(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	config := func(extra string) string {
		return fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q], default_cooldown: 1h}
sources:
  - {name: redis, type: file, paths: [%q], format: cri, poll_interval: 50ms}
%s
notifiers:
  - {name: hook, type: webhook, url: %q}
metrics: {listen: %q}
`, dir, seedPath, logPath, extra, hook.URL, addr)
	}
	cfg := writeConfig(t, dir, config(""))
	sock := listenNotify(t)
	cmd := exec.Command(binary, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=2000000")
	d := startProc(t, cmd)

	ready, before := sock.await(t, "READY=1")
	require.Empty(t, before, "nothing before READY=1")
	require.Contains(t, ready, "STATUS=watching 1 sources, 1 notifiers")
	code, body := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusOK, code, body)
	code, _ = get(t, "http://"+addr+"/healthz")
	require.Equal(t, http.StatusOK, code)
	sock.await(t, "WATCHDOG=1")
	sock.await(t, "WATCHDOG=1")

	t0 := time.Now().UTC()
	testenv.AppendFile(t, logPath, criLine(t0, seedLine))
	hook.waitFor(t, 1)
	metrics := scrapeUntil(t, "http://"+addr+"/metrics", "cowbell_config_last_reload_successful 1")
	require.Regexp(t, `cowbell_build_info\{goversion="go[^"]+",journal_reader="[a-z]+",version="[^"]+"\} 1`, metrics)
	for _, g := range []string{"cowbell_overcommit_mode", "cowbell_committed_as_bytes", "cowbell_commit_limit_bytes", "cowbell_commit_ratio"} {
		require.Regexp(t, `(?m)^`+g+` [0-9.e+]+$`, metrics)
	}
	require.Contains(t, metrics, fmt.Sprintf("cowbell_overcommit_mode %v", machineOvercommit(t)))

	// A broken configuration is refused; the running one goes on.
	require.NoError(t, os.WriteFile(cfg, []byte(config("  - {name: x, type: file, paths: [/tmp/*.log], chanel: 1}")), 0o600))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	sock.await(t, "RELOADING=1")
	refused, _ := sock.await(t, "READY=1")
	require.Contains(t, refused, `STATUS=reload refused, running the previous configuration:`)
	require.Contains(t, refused, `unknown field "chanel"`)
	scrapeUntil(t, "http://"+addr+"/metrics", "cowbell_config_last_reload_successful 0")
	testenv.AppendFile(t, logPath, criLine(t0.Add(2*time.Hour), seedLine))
	hook.waitFor(t, 1) // still watching, still notifying, past the cooldown

	// A good one: a second source, and the open incident stays open (no new page for
	// a hit inside its cooldown).
	require.NoError(t, os.WriteFile(cfg, []byte(config(fmt.Sprintf("  - {name: other, type: file, paths: [%q], format: cri, poll_interval: 50ms}", otherLog))), 0o600))
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGHUP))
	sock.await(t, "RELOADING=1")
	reloaded, _ := sock.await(t, "READY=1")
	require.Contains(t, reloaded, "STATUS=watching 2 sources, 1 notifiers")
	scrapeUntil(t, "http://"+addr+"/metrics", "cowbell_config_last_reload_successful 1")
	testenv.AppendFile(t, logPath, criLine(t0.Add(2*time.Hour+time.Minute), seedLine))
	testenv.AppendFile(t, otherLog, criLine(t0.Add(2*time.Hour+2*time.Minute), "marker: "+seedLine))
	scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="other"} 1`)
	scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_incident_events_total{event="fold",rule="redis/err-bgsave-failed-disk"} 2`)

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	sock.await(t, "STOPPING=1")
	select {
	case err := <-d.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("cowbell did not stop")
	}
	require.Len(t, hook.received(), 2, "no page for hits inside the cooldown, across the reload")
}

// TestReadyzSourceFailing: with its only source failing, cowbell still says READY=1
// (the service has started) but /readyz answers 503 naming the source and why, and
// STATUS= says the same.
func TestReadyzSourceFailing(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false}
sources:
  - {name: kernel, type: kmsg, path: %s/no-such-device}
metrics: {listen: %q}
`, dir, dir, addr))
	sock := listenNotify(t)
	cmd := exec.Command(binary, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path)
	d := startProc(t, cmd)
	failing := "STATUS=source kernel failing: open " + dir + "/no-such-device"
	if ready, _ := sock.await(t, "READY=1"); !strings.Contains(ready, failing) {
		sock.await(t, failing) // the failure came after the sources had settled
	}
	code, body := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready: source kernel failing:")
	require.Contains(t, body, "no-such-device")
	d.stop(t, syscall.SIGTERM)
}

// TestDamagedStoreComesUp: cowbell comes up on a damaged store (cut short by a full
// disk, a record mangled): a damaged file is moved aside, kept, and a fresh one
// started, loudly; a damaged record is left out. Either way incidents page.
func TestDamagedStoreComesUp(t *testing.T) {
	for _, damage := range []string{"cut short", "incident record"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			seedPath, _ := seedEntry(t)
			logPath := filepath.Join(dir, "redis.log")
			testenv.AppendFile(t, logPath, "")
			hook := newReceiver(t)
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
rules: {builtin: false, paths: [%q]}
sources:
  - {name: redis, type: file, paths: [%q], format: cri, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
metrics: {listen: %q}
`, dir, seedPath, logPath, hook.URL, addr))
			// A first run leaves a store with an open incident in it.
			d := startDaemon(t, cfg)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_source_up{source="redis"} 1`)
			testenv.AppendFile(t, logPath, criLine(time.Now(), seedLine))
			hook.waitFor(t, 1)
			d.stop(t, syscall.SIGTERM)

			store := filepath.Join(dir, "state", "cowbell.db")
			switch damage {
			case "cut short":
				fi, err := os.Stat(store)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(store, fi.Size()/2))
			case "incident record":
				db, err := bolt.Open(store, 0o600, nil)
				require.NoError(t, err)
				require.NoError(t, db.Update(func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("incidents")).ForEach(func(k, _ []byte) error {
						return tx.Bucket([]byte("incidents")).Put(k, []byte(`{"key": mangled`))
					})
				}))
				require.NoError(t, db.Close())
			}

			d = startDaemon(t, cfg)
			metrics := scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_source_up{source="redis"} 1`)
			moved, _ := filepath.Glob(store + ".damaged-*")
			if damage == "cut short" {
				require.Contains(t, metrics, "cowbell_state_store_recovered 1")
				require.Len(t, moved, 1, "the damaged store is kept beside the new one")
			} else {
				require.Contains(t, metrics, "cowbell_state_store_recovered 0")
				require.Empty(t, moved)
			}
			testenv.AppendFile(t, logPath, criLine(time.Now().Add(time.Hour), seedLine))
			hook.waitFor(t, 1)
			d.stop(t, syscall.SIGTERM)
		})
	}
}

// TestFullDiskKeepsNotifying: the state directory's disk fills up. cowbell keeps
// matching and notifying from memory, says so (log, /readyz, metric), and once space
// returns saves what it held, so a restart neither loses nor repeats a page.
func TestFullDiskKeepsNotifying(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", stateDir).Run(); err != nil {
		testenv.Missing(t, "mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", stateDir).Run() })
	seedPath, _ := seedEntry(t)
	logPath := filepath.Join(dir, "redis.log")
	testenv.AppendFile(t, logPath, "")
	hook := newReceiver(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s
rules: {builtin: false, paths: [%q]}
sources:
  - {name: redis, type: file, paths: [%q], format: cri, poll_interval: 50ms}
notifiers:
  - {name: hook, type: webhook, url: %q}
metrics: {listen: %q}
`, stateDir, seedPath, logPath, hook.URL, addr))
	d := startDaemon(t, cfg)
	scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_source_up{source="redis"} 1`)
	t0 := time.Now()
	// Each incident is its own (the padding after the phrase makes every line, and so
	// every stored incident, large); the first goes through a healthy store.
	line := func(i int) string {
		return criLine(t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("%s %d %s", seedLine, i, strings.Repeat("x", 16<<10)))
	}
	testenv.AppendFile(t, logPath, line(0))
	hook.waitFor(t, 1)

	// Fill the disk.
	fill := filepath.Join(stateDir, "fill")
	out, _ := exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=64k").CombinedOutput()
	require.Contains(t, string(out), "No space left on device")
	for i := 1; i <= 6; i++ {
		testenv.AppendFile(t, logPath, line(i))
	}
	hook.waitFor(t, 6) // delivered from memory
	scrapeUntil(t, "http://"+addr+"/metrics", "cowbell_store_commit_failures_total")
	code, body := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "state store refuses writes")
	require.Contains(t, body, "no space left on device")

	// Space returns: the next commit saves what was held; /readyz recovers.
	require.NoError(t, os.Remove(fill))
	testenv.AppendFile(t, logPath, line(7))
	hook.waitFor(t, 1)
	require.Eventually(t, func() bool { c, _ := get(t, "http://"+addr+"/readyz"); return c == http.StatusOK }, 30*time.Second, 100*time.Millisecond)
	d.stop(t, syscall.SIGTERM)
	require.Contains(t, d.stderr.String(), "state store refuses writes: notifying from memory")
	require.Contains(t, d.stderr.String(), "state store takes writes again")

	// A restart reads nothing again and pages nothing again.
	d = startDaemon(t, cfg)
	scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_source_up{source="redis"} 1`)
	testenv.AppendFile(t, logPath, line(8))
	hook.waitFor(t, 1)
	d.stop(t, syscall.SIGTERM)
	seen := map[string]int{}
	for _, b := range hook.received() {
		lines := b["lines"].([]any)
		text := lines[len(lines)-1].(map[string]any)["text"].(string)
		n := strings.Fields(strings.TrimPrefix(text, seedLine))[0]
		seen[n]++
	}
	require.Len(t, seen, 9, "every incident paged: %v", seen)
	for n, c := range seen {
		require.Equal(t, 1, c, "incident %s paged once", n)
	}
}

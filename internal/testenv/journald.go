package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Where the system's journald listens and keeps its files.
const (
	JournalSocket  = "/run/systemd/journal/socket"
	journaldBinary = "/lib/systemd/systemd-journald"
	// journaldLock coordinates test binaries run in parallel by `go test ./...`: each
	// holds it shared while it uses journald; the one that started journald takes it
	// exclusively before stopping it, so it never stops a journald another binary uses.
	journaldLock = "/run/cowbell-testenv-journald.lock"
	// journaldDropIn lifts journald's rate limit for the journald the tests start:
	// the benchmarks log tens of thousands of entries from one process.
	journaldDropIn = "/run/systemd/journald.conf.d/cowbell-testenv.conf"
)

// JournalEnv is a running systemd-journald tests can log to and read from.
type JournalEnv struct {
	// Root is the journal directory holding this machine's journal files:
	// /run/log/journal (volatile) or /var/log/journal (persistent).
	Root string
	// Started is true when the tests started this journald (false: reused).
	Started bool
}

var jd struct {
	once    sync.Once
	env     *JournalEnv
	cmd     *exec.Cmd
	lock    *os.File
	missing string
	err     error
}

// Journald returns a running journald, starting /lib/systemd/systemd-journald (as
// root) when none answers on its socket. A journald found running is reused and never
// stopped. One started here runs until StopJournald, which a package's TestMain calls
// after m.Run; a test binary that is killed leaves it running for the next one to reuse.
func Journald(t testing.TB) *JournalEnv {
	t.Helper()
	jd.once.Do(startJournald)
	if jd.missing != "" {
		Missing(t, "%s", jd.missing)
	}
	if jd.err != nil {
		t.Fatalf("journald: %v", jd.err)
	}
	return jd.env
}

// StartJournald is Journald for programs that are not tests (the latency benchmark):
// it returns the running journald, or an error saying what is missing. StopJournald
// stops one it started.
func StartJournald() (*JournalEnv, error) {
	jd.once.Do(startJournald)
	if jd.missing != "" {
		return nil, fmt.Errorf("missing: %s", jd.missing)
	}
	return jd.env, jd.err
}

// StopJournald stops the journald this test binary started, once no other test
// binary uses it. It does nothing when journald was reused or never asked for.
func StopJournald() error {
	if jd.lock == nil {
		return nil
	}
	defer func() { jd.lock.Close(); jd.lock = nil }()
	if jd.cmd == nil {
		return nil
	}
	if err := syscall.Flock(int(jd.lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", journaldLock, err)
	}
	_ = jd.cmd.Process.Signal(syscall.SIGTERM)
	err := jd.cmd.Wait()
	jd.cmd = nil
	_ = os.Remove(journaldDropIn)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("stop journald: %w", err)
	}
	return nil
}

func startJournald() {
	if os.Geteuid() != 0 {
		jd.missing = "root (to reach or start systemd-journald)"
		return
	}
	lock, err := os.OpenFile(journaldLock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		jd.err = fmt.Errorf("open %s: %w", journaldLock, err)
		return
	}
	jd.lock = lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_SH); err != nil {
		jd.err = fmt.Errorf("lock %s: %w", journaldLock, err)
		return
	}
	if journaldAnswers() {
		jd.env = &JournalEnv{Root: journalRoot()}
		return
	}
	// Start one under the exclusive lock so that two binaries do not both start one.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		jd.err = fmt.Errorf("lock %s: %w", journaldLock, err)
		return
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_SH) }()
	if journaldAnswers() {
		jd.env = &JournalEnv{Root: journalRoot()}
		return
	}
	if _, err := os.Stat(journaldBinary); err != nil {
		jd.missing = "program " + journaldBinary + " (package systemd)"
		return
	}
	jd.err = runJournald()
	if jd.err == nil {
		_ = exec.Command("journalctl", "--sync").Run() // its files exist once it has written

		jd.env = &JournalEnv{Root: journalRoot(), Started: true}
	}
}

func runJournald() error {
	if err := os.MkdirAll(filepath.Dir(journaldDropIn), 0o755); err != nil {
		return fmt.Errorf("write journald drop-in: %w", err)
	}
	conf := "[Journal]\nRateLimitIntervalSec=0\nRateLimitBurst=0\n"
	if err := os.WriteFile(journaldDropIn, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write journald drop-in: %w", err)
	}
	logf, err := os.CreateTemp("", "cowbell-journald-*.log")
	if err != nil {
		return fmt.Errorf("start journald: %w", err)
	}
	defer os.Remove(logf.Name())
	defer logf.Close()
	cmd := exec.Command(journaldBinary)
	cmd.Stdout, cmd.Stderr = logf, logf // files, so exec starts no copying goroutines
	// Its own process group: a ^C to the test run reaches the tests, which stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", journaldBinary, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !journaldAnswers() {
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil); pid == cmd.Process.Pid {
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("%s exited (%v): %s", journaldBinary, ws.ExitStatus(), strings.TrimSpace(string(out)))
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("%s: no socket within 10s", journaldBinary)
		}
		time.Sleep(20 * time.Millisecond) // polling a daemon's startup, not a test's timing
	}
	jd.cmd = cmd
	return nil
}

// journaldAnswers reports whether a journald listens on the native socket; a socket
// file left by a journald that has gone refuses the connection.
func journaldAnswers() bool {
	c, err := net.Dial("unixgram", JournalSocket)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// journalRoot says where journald writes: /var/log/journal once flushed there, else
// the volatile /run/log/journal.
func journalRoot() string {
	id, _ := os.ReadFile("/etc/machine-id")
	runtime := filepath.Join("/run/log/journal", strings.TrimSpace(string(id)), "system.journal")
	if _, err := os.Stat(runtime); err == nil {
		return "/run/log/journal"
	}
	return "/var/log/journal"
}

// Send logs message with SYSLOG_IDENTIFIER=identifier and the extra fields through
// journald's native protocol.
func (e *JournalEnv) Send(t testing.TB, identifier, message string, fields map[string]string) {
	t.Helper()
	vars := map[string]string{"SYSLOG_IDENTIFIER": identifier}
	for k, v := range fields {
		vars[k] = v
	}
	if err := journal.Send(message, journal.PriInfo, vars); err != nil {
		t.Fatalf("journal send: %v", err)
	}
}

// Journalctl runs journalctl with args (e.g. "--rotate", "--sync") and fails t on error.
func (e *JournalEnv) Journalctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("journalctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("journalctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// journalRemote writes journal files from entries in journald's export format.
const journalRemote = "/lib/systemd/systemd-journal-remote"

// WriteJournal writes entries, each a map of its fields (trusted ones such as _PID
// and _UID included, as journald would have set them), as a journal file in dir,
// through systemd-journal-remote (package systemd-journal-remote). Each call adds a
// new file. Entries without __REALTIME_TIMESTAMP get successive times from now;
// __MONOTONIC_TIMESTAMP and _BOOT_ID are filled in when missing.
func WriteJournal(t testing.TB, dir string, entries []map[string]string) {
	t.Helper()
	if _, err := os.Stat(journalRemote); err != nil {
		Missing(t, "program %s (package systemd-journal-remote)", journalRemote)
	}
	var b strings.Builder
	now := time.Now().UnixMicro()
	for i, e := range entries {
		fields := map[string]string{
			"__REALTIME_TIMESTAMP":  fmt.Sprint(now + int64(i)),
			"__MONOTONIC_TIMESTAMP": fmt.Sprint(1000 + i),
			"_BOOT_ID":              "0123456789abcdef0123456789abcdef",
		}
		for k, v := range e {
			fields[k] = v
		}
		for k, v := range fields {
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("WriteJournal: field %s: newlines are not supported", k)
			}
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
		b.WriteString("\n")
	}
	out := filepath.Join(dir, fmt.Sprintf("remote-%d.journal", time.Now().UnixNano()))
	cmd := exec.Command(journalRemote, "--output="+out, "-")
	cmd.Stdin = strings.NewReader(b.String())
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", journalRemote, err, msg)
	}
}

package rules_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/enrich"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// realTimeout bounds every wait for a real program.
const realTimeout = 60 * time.Second

// noLeaks registers, before anything else the test cleans up, a check that no
// goroutine outlives it (cleanups run last-registered first).
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// proc is a program a real-process test started; t.Cleanup kills and reaps it.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	require.NoError(t, cmd.Start(), "start %s", cmd.Path)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(realTimeout): // a process stuck in the kernel must not hang the suite
			t.Errorf("%s did not exit after SIGKILL", cmd.Path)
		}
	})
	return p
}

// stop signals the program and waits until it has exited.
func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(realTimeout):
		t.Fatalf("%s did not exit after %v", p.cmd.Path, sig)
	}
}

// wait waits until the program has exited by itself.
func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(realTimeout):
		t.Fatalf("%s did not exit", p.cmd.Path)
	}
}

// waitLog polls path until it holds want n times, or fails after realTimeout.
func waitLog(t *testing.T, path, want string, n int) {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), want) >= n {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("%s: no %q (x%d) after %v:\n%s", path, want, n, realTimeout, data)
		case <-tick.C:
		}
	}
}

// readLines returns a file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// firedBy returns, for every line, the ids of the rules it fires, and the hits.
func firedBy(m *matcher.Matcher, source string, lines []string) (map[string]int, []matcher.Hit) {
	ids := map[string]int{}
	var all []matcher.Hit
	for _, text := range lines {
		hits := m.Match(sources.Line{Source: source, Text: text}, nil)
		for _, h := range hits {
			ids[h.Rule.ID]++
		}
		all = append(all, hits...)
	}
	return ids, all
}

// liveIncident is what the incident builder gives rule id on this machine now, for a
// line with these captures: the live snapshot, the incident's process read from the
// host, the diagnosis.
func liveIncident(t *testing.T, id string, caps map[string]string) facts.Env {
	t.Helper()
	e := enrich.New(enrich.DefaultConfig, zap.NewNop())
	s := e.Fresh(context.Background())
	return enrich.NewEnv(s, e.Target(s, id, caps, nil), caps, nil)
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	require.NoError(t, err)
	return n
}

// credential is the user a server must run as: postgres (or nobody) when the test
// runs as root, else the test's own user. dir is handed to that user.
func credential(t *testing.T, name, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	require.NoError(t, os.Chown(dir, uid, gid))
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// kmsg reads kernel log records written after it was opened. It reads the raw
// descriptor: an *os.File in non-blocking mode would park in the poller instead of
// returning EAGAIN at the end of the log.
type kmsg struct{ fd int }

func openKmsg(t *testing.T) *kmsg {
	t.Helper()
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("kernel log not readable: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	_, err = syscall.Seek(fd, 0, io.SeekEnd)
	require.NoError(t, err)
	return &kmsg{fd: fd}
}

// messages returns the text of the records logged since the last call (each read
// is one record, "prio,seq,ts,flags;message" then continuation lines).
func (k *kmsg) messages(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(k.fd, buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return out
		case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EINTR): // overwritten records: read on
			continue
		}
		require.NoError(t, err)
		sc := bufio.NewScanner(strings.NewReader(string(buf[:n])))
		for sc.Scan() {
			line := sc.Text()
			if _, msg, ok := strings.Cut(line, ";"); ok && !strings.HasPrefix(line, " ") {
				out = append(out, msg)
			}
		}
	}
}

// postgres is a real PostgreSQL server a test started, logging to logPath.
type postgres struct {
	bindir, port, logPath string
	srv                   *exec.Cmd
	*proc
}

// startPostgres initdbs a cluster in a temporary directory and starts its server as
// the postgres user on 127.0.0.1, logging with a %m [%p] prefix; it returns once the
// server accepts connections.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	initdb := testenv.NeedBinary(t, "initdb", "/usr/lib/postgresql/*/bin")
	real, err := filepath.EvalSymlinks(initdb) // the server programs sit beside the real initdb
	require.NoError(t, err)
	bindir := filepath.Dir(real)
	dir := t.TempDir()
	cred := credential(t, "postgres", dir)
	data, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	init := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := init.CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)

	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { logFile.Close() })
	port := strconv.Itoa(testenv.FreePort(t))
	srv := exec.Command(filepath.Join(bindir, "postgres"), "-D", data, "-p", port, "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "log_line_prefix=%m [%p] %q%u@%d ")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	srv.Stdout, srv.Stderr = logFile, logFile
	p := start(t, srv)
	waitLog(t, logPath, "database system is ready to accept connections", 1)
	return &postgres{bindir: bindir, port: port, logPath: logPath, srv: srv, proc: p}
}

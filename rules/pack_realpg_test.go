package rules_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/matcher"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

// TestRealPostgresThreeDestinations runs PostgreSQL 15 writing stderr, csvlog and
// jsonlog at once (logging_collector), under a 700 MB address-space limit, and
// provokes: a statement quoting an incident phrase, an out-of-memory error, a backend
// killed by SIGKILL and its crash restart, and the postmaster itself SIGKILLed and
// started again. Each log, decoded as the file source decodes it, raises the same
// incidents: the quoted statement none; the out-of-memory error; the backend's crash
// restart, resolved; and, with no signal line before it, the postmaster's death,
// opened by its crash recovery and resolved.
func TestRealPostgresThreeDestinations(t *testing.T) {
	noLeaks(t)
	initdb := testenv.NeedBinary(t, "initdb", "/usr/lib/postgresql/*/bin")
	prlimit := testenv.NeedBinary(t, "prlimit")
	real, err := filepath.EvalSymlinks(initdb)
	require.NoError(t, err)
	bindir := filepath.Dir(real)
	dir := t.TempDir()
	cred := credential(t, "postgres", dir)
	data, logs := filepath.Join(dir, "data"), filepath.Join(dir, "log")
	init := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := init.CombinedOutput()
	require.NoError(t, err, "initdb: %s", out)
	port := strconv.Itoa(testenv.FreePort(t))
	stderrLog := filepath.Join(logs, "pg")

	// serve starts the postmaster in a process group of its own, so that after it is
	// killed the test can wait for its children to go.
	serve := func() *proc {
		srv := exec.Command(prlimit, "--as=734003200", "--", filepath.Join(bindir, "postgres"),
			"-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
			"-c", "logging_collector=on", "-c", "log_destination=stderr,csvlog,jsonlog",
			"-c", "log_directory="+logs, "-c", "log_filename=pg", "-c", "log_statement=all")
		srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return start(t, srv)
	}
	psql := func(sql string) *exec.Cmd {
		return exec.Command(filepath.Join(bindir, "psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-Atc", sql)
	}
	p := serve()
	waitLog(t, stderrLog, "database system is ready to accept connections", 1)
	out, err = psql("select 'server process (PID 1) was terminated by signal 9: Killed' as quoted").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = psql("select length(repeat('x', 400*1024*1024))").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "out of memory")

	sleeper := start(t, psql("select pg_sleep(600)"))
	pid := backendPID(t, func(args ...string) *exec.Cmd { return psql(args[0]) })
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitLog(t, stderrLog, "database system is ready to accept connections", 2)
	<-sleeper.done

	pgid := p.cmd.Process.Pid
	require.NoError(t, syscall.Kill(pgid, syscall.SIGKILL), "the postmaster itself")
	p.wait(t)
	waitGroupGone(t, pgid)
	p = serve()
	waitLog(t, stderrLog, "database system is ready to accept connections", 3)
	p.stop(t, syscall.SIGINT)
	waitGroupGone(t, pgid)

	_, m := builtinPack(t)
	type incident struct{ rule, kind, pid, recovery string }
	replayFile := func(name string) []incident {
		f, err := os.Open(filepath.Join(logs, name))
		require.NoError(t, err)
		defer f.Close()
		tr := matcher.NewTracker(m, matcher.Identity{Host: "db1", Node: "n1"}, time.Now)
		var got []incident
		require.NoError(t, file.Scan(context.Background(), f, "postgres", name, file.FormatAuto, func(l sources.Line) error {
			for _, ev := range tr.Observe(l) {
				if ev.Kind == matcher.Open || ev.Kind == matcher.Resolve {
					got = append(got, incident{ev.State.Rule, ev.Kind.String(), ev.State.Captures["pid"], ev.State.Captures["recovery"]})
				}
			}
			return nil
		}))
		return got
	}
	want := []incident{
		{"postgres/out-of-memory", "open", "", ""},
		{"postgres/backend-sigkill", "open", strconv.Itoa(pid), ""},
		{"postgres/backend-sigkill", "resolve", strconv.Itoa(pid), ""},
		{"postgres/backend-sigkill", "open", "", "interrupted"},
		{"postgres/backend-sigkill", "resolve", "", "interrupted"},
	}
	for _, name := range []string{"pg", "pg.csv", "pg.json"} {
		require.Equal(t, want, replayFile(name), name)
	}
}

// waitGroupGone waits until no process of the process group is left.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		select {
		case <-deadline.C:
			t.Fatalf("process group %d still alive after %v", pgid, realTimeout)
		case <-tick.C:
		}
	}
}

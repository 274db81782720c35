package rules_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
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
	starts := 0
	serve := func() *proc {
		starts++
		errPath := filepath.Join(dir, "server-"+strconv.Itoa(starts)+".err")
		errFile, err := os.Create(errPath)
		require.NoError(t, err)
		t.Cleanup(func() {
			errFile.Close()
			if b, _ := os.ReadFile(errPath); t.Failed() && len(b) > 0 {
				t.Logf("server start %s wrote:\n%s", errPath, b)
			}
		})
		srv := exec.Command(prlimit, "--as=734003200", "--", filepath.Join(bindir, "postgres"),
			"-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
			"-c", "logging_collector=on", "-c", "log_destination=stderr,csvlog,jsonlog",
			"-c", "log_directory="+logs, "-c", "log_filename=pg", "-c", "log_statement=all")
		srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		srv.Stdout, srv.Stderr = errFile, errFile
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

	shmid := sharedMemoryID(t, data)
	require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL), "the postmaster itself")
	p.wait(t)
	// Its children (each in a session of its own) leave when they see it gone; the
	// next postmaster refuses to start while one still holds the shared memory.
	waitDetached(t, shmid)
	p = serve()
	waitLog(t, stderrLog, "database system is ready to accept connections", 3)
	shmid = sharedMemoryID(t, data)
	p.stop(t, syscall.SIGINT)
	waitDetached(t, shmid)

	_, m := builtinPack(t)
	type incident struct{ rule, kind, pid, recovery string }
	replayFile := func(name string) []incident {
		f, err := os.Open(filepath.Join(logs, name))
		require.NoError(t, err)
		defer f.Close()
		tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "n1"}, time.Now)
		var got []incident
		require.NoError(t, file.Scan(context.Background(), f, "postgres", name, file.FormatAuto, func(l sources.Line) error {
			for _, ev := range tr.Observe(l) {
				if ev.Kind == incidents.Open || ev.Kind == incidents.Resolve {
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
		// The recovery lines folded into the crash's incident, which keeps what they
		// captured.
		{"postgres/backend-sigkill", "resolve", strconv.Itoa(pid), "interrupted"},
		{"postgres/backend-sigkill", "open", "", "interrupted"},
		{"postgres/backend-sigkill", "resolve", "", "interrupted"},
	}
	for _, name := range []string{"pg", "pg.csv", "pg.json"} {
		require.Equal(t, want, replayFile(name), name)
	}
}

// sharedMemoryID reads the System V shared memory id the postmaster wrote on the
// seventh line of postmaster.pid ("key id").
func sharedMemoryID(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.GreaterOrEqual(t, len(lines), 7, "postmaster.pid: %q", b)
	f := strings.Fields(lines[6])
	require.Len(t, f, 2, "postmaster.pid shared memory line: %q", lines[6])
	return f[1]
}

// waitDetached waits until no process is attached to shared memory segment shmid
// (/proc/sysvipc/shm), or the segment is gone.
func waitDetached(t *testing.T, shmid string) {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for attached(t, shmid) {
		select {
		case <-deadline.C:
			t.Fatalf("shared memory %s still attached after %v", shmid, realTimeout)
		case <-tick.C:
		}
	}
}

func attached(t *testing.T, shmid string) bool {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n")[1:] {
		// key shmid perms size cpid lpid nattch ...
		if f := strings.Fields(l); len(f) > 6 && f[1] == shmid {
			return f[6] != "0"
		}
	}
	return false
}

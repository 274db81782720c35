package rules_test

import (
	"bufio"
	"fmt"
	"net"
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
)

// TestRealRedisStartup runs redis-server with vm.overcommit_memory not 1 (as root it
// sets 0 for the test and restores the old value) and checks that its startup,
// BGSAVE and shutdown fire exactly the overcommit warning (and the THP warning when
// THP is "always"), with this host's advice.
func TestRealRedisStartup(t *testing.T) {
	noLeaks(t)
	bin := testenv.NeedBinary(t, "redis-server")
	const knob = "/proc/sys/vm/overcommit_memory"
	if old := readInt(t, knob); old == 1 {
		testenv.NeedRoot(t)
		require.NoError(t, os.WriteFile(knob, []byte("0"), 0o644))
		t.Cleanup(func() { _ = os.WriteFile(knob, []byte(strconv.FormatInt(old, 10)), 0o644) })
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	port := testenv.FreePort(t)
	p := start(t, exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", dir, "--logfile", logPath, "--save", "", "--appendonly", "no"))
	waitLog(t, logPath, "Ready to accept connections", 1)
	redisCommand(t, port, "SET k v", "+OK")
	redisCommand(t, port, "BGSAVE", "+Background saving started")
	waitLog(t, logPath, "Background saving terminated with success", 1)

	_, m := builtinPack(t)
	ids, hits := firedBy(m, "redis", readLines(t, logPath))
	// The advice is taken while Redis runs, as cowbell takes it when the line comes.
	env := liveIncident(t, hits[0].Rule.ID, hits[0].Captures)
	p.stop(t, syscall.SIGTERM)
	want := map[string]int{"redis/overcommit-warning": 1}
	if env.THP.Enabled == "always" {
		want["redis/thp-warning"] = 1
	}
	require.Equal(t, want, ids)
	require.Equal(t, "pid", env.Target.Via, "the line's pid names the running redis-server")
	require.Equal(t, "redis-server", env.Target.Comm)
	require.True(t, env.Running["redis"])
	advice := adviseOn(t, hits[0].Rule, env)
	switch {
	case env.Running["postgres"]: // strict mode beside PostgreSQL
		require.Contains(t, advice, "vm.overcommit_memory=2")
		require.NotContains(t, advice, "vm.overcommit_memory=1")
	case env.Commit.Mode != 1:
		require.Contains(t, advice, "sysctl -w vm.overcommit_memory=1")
	}
}

// redisCommand sends one inline command and checks the reply's start ("" expects none).
func redisCommand(t *testing.T, port int, cmd, want string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), realTimeout)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(realTimeout)))
	_, err = fmt.Fprintf(c, "%s\r\n", cmd)
	require.NoError(t, err)
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if want == "" { // no answer expected: SHUTDOWN closes the connection
		return
	}
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(buf[:n]), want), "reply to %s: %q", cmd, buf[:n])
}

// TestRealPostgresKill9 kills a PostgreSQL 15 backend with SIGKILL and replays the
// server's log: one postgres/backend-sigkill incident naming that pid, folding the
// crash restart and resolved when the server accepts connections again.
func TestRealPostgresKill9(t *testing.T) {
	noLeaks(t)
	pg := startPostgres(t)
	bindir, port, logPath, p := pg.bindir, pg.port, pg.logPath, pg.proc

	psql := func(args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(bindir, "psql"), append([]string{"-h", "127.0.0.1", "-p", port, "-U", "postgres", "-Atc"}, args...)...)
	}
	sleeper := start(t, psql("select pg_sleep(600)"))
	pid := backendPID(t, psql)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitLog(t, logPath, "database system is ready to accept connections", 2)
	<-sleeper.done // its connection died with the backend
	p.stop(t, syscall.SIGINT)

	_, m := builtinPack(t)
	lines := readLines(t, logPath)
	ids, _ := firedBy(m, "postgres", lines)
	// The signal line and the startup process's two recovery lines, one incident.
	require.Equal(t, map[string]int{"postgres/backend-sigkill": 3}, ids)

	tr := incidents.NewTracker(m, incidents.Identity{Host: "db1", Node: "node-1"}, time.Now)
	var kinds []incidents.EventKind
	for _, text := range lines {
		for _, ev := range tr.Observe(sources.Line{Source: "postgres", Text: text}) {
			require.Equal(t, strconv.Itoa(pid), ev.State.Captures["pid"])
			kinds = append(kinds, ev.Kind)
		}
	}
	require.Equal(t, incidents.Open, kinds[0])
	require.Equal(t, incidents.Resolve, kinds[len(kinds)-1])
	for _, k := range kinds[1 : len(kinds)-1] {
		require.Equal(t, incidents.Fold, k)
	}
	require.GreaterOrEqual(t, len(kinds), 5, "the crash restart folds into the incident")
}

// backendPID waits for the pg_sleep backend and returns its pid.
func backendPID(t *testing.T, psql func(...string) *exec.Cmd) int {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := psql("select pid from pg_stat_activity where query = 'select pg_sleep(600)'").Output()
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil {
			return pid
		}
		select {
		case <-deadline.C:
			t.Fatalf("no pg_sleep backend after %v", realTimeout)
		case <-tick.C:
		}
	}
}

// TestRealForkEAGAIN runs bash under `prlimit --nproc=1:1` as an unprivileged user
// (root ignores RLIMIT_NPROC): its fork fails with EAGAIN, which is
// generic/fork-eagain and never the ENOMEM rule. bash retries for about 15 s, so the
// test stops it after its first complaint.
func TestRealForkEAGAIN(t *testing.T) {
	noLeaks(t)
	testenv.NeedRoot(t)
	prlimit := testenv.NeedBinary(t, "prlimit")
	bash := testenv.NeedBinary(t, "bash")
	cmd := exec.Command(prlimit, "--nproc=1:1", bash, "-c", "true & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(t, "nobody", t.TempDir())}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	p := start(t, cmd)
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stderr).ReadString('\n')
		first <- strings.TrimSpace(line)
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(realTimeout):
		t.Fatalf("bash printed nothing within %v", realTimeout)
	}
	p.stop(t, syscall.SIGKILL)
	require.Contains(t, line, "Resource temporarily unavailable")

	_, m := builtinPack(t)
	ids, _ := firedBy(m, "shell", []string{line})
	require.Equal(t, map[string]int{"generic/fork-eagain": 1}, ids, "line %q", line)
}

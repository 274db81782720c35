package rules_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/matcher"
)

// These tests make fork fail with ENOMEM for real programs: strace's fault injection
// makes the kernel return ENOMEM from their clone(2) calls (fork in glibc is clone;
// threads use clone3 and are left alone). The programs then print exactly what they
// print when the kernel's commit accounting refuses the fork, and nothing else on the
// machine is touched: changing vm.overcommit_* or filling memory would be host-wide.

// straced runs argv under strace with every clone(2) failing with ENOMEM, in a
// process group of its own: a tracee outlives a killed strace, so the test's cleanup
// kills the whole group.
func straced(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	strace := testenv.NeedBinary(t, "strace")
	args := append([]string{"-f", "-qq", "-o", "/dev/null", "-e", "trace=clone", "-e", "inject=clone:error=ENOMEM", "--"}, argv...)
	cmd := exec.Command(strace, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// killGroup kills a process group started by straced, whatever is left of it.
func killGroup(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
}

// TestRealRedisForkENOMEM: BGSAVE and BGREWRITEAOF of a real redis-server whose fork
// fails with ENOMEM fire exactly the Redis fork rules (and the startup overcommit
// warning where this host's overcommit is not 1), with advice for this host.
func TestRealRedisForkENOMEM(t *testing.T) {
	noLeaks(t)
	bin := testenv.NeedBinary(t, "redis-server")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	port := testenv.FreePort(t)
	srv := straced(t, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", dir, "--logfile", logPath, "--save", "", "--appendonly", "no")
	p := start(t, srv)
	killGroup(t, srv)
	waitLog(t, logPath, "Ready to accept connections", 1)
	redisCommand(t, port, "BGSAVE", "-ERR")
	waitLog(t, logPath, "Can't save in background: fork: Cannot allocate memory", 1)
	redisCommand(t, port, "BGREWRITEAOF", "-ERR")
	waitLog(t, logPath, "Can't rewrite append only file in background: fork: Cannot allocate memory", 1)

	_, m := builtinPack(t)
	ids, hits := firedBy(m, "redis", readLines(t, logPath))
	var fork *matcher.Hit
	for i, h := range hits {
		if h.Rule.ID == "redis/bgsave-fork-enomem" {
			fork = &hits[i]
		}
	}
	require.NotNil(t, fork)
	// The advice is taken while Redis runs, as cowbell takes it when the line comes.
	env := liveIncident(t, fork.Rule.ID, fork.Captures)
	// Shut Redis down through its own protocol: strace leaves when its tracee does.
	redisCommand(t, port, "SHUTDOWN NOSAVE", "")
	p.wait(t)

	want := map[string]int{"redis/bgsave-fork-enomem": 1, "redis/aof-rewrite-fork-enomem": 1}
	if env.Commit.Mode != 1 {
		want["redis/overcommit-warning"] = 1
	}
	if env.THP.Enabled == "always" {
		want["redis/thp-warning"] = 1
	}
	require.Equal(t, want, ids)
	require.Equal(t, "pid", env.Target.Via, "the line's pid names the running redis-server")
	require.Positive(t, env.Target.ForkChargeKB, "its VmData + VmStk")
	advice := adviseOn(t, fork.Rule, env)
	// The ENOMEM was injected, so what the advice says is what this host's kernel,
	// mode and numbers make of a real one.
	switch {
	case env.Diag.Memcg && env.Target.Cgroup.UsageRatio >= 0.9:
		require.Equal(t, facts.ForkMemcg, env.Diag.ForkCause)
	case env.Commit.Mode == 0 && (env.Kernel.Major > 5 || env.Kernel.Major == 5 && env.Kernel.Minor >= 2):
		require.Equal(t, facts.ForkNotOvercommit, env.Diag.ForkCause, "mode 0 on %s does not refuse this fork", env.Kernel.Release)
		require.Contains(t, advice, "did not refuse this fork")
		require.NotContains(t, advice, "sysctl -w vm.overcommit_memory=1", "setting mode 1 would not fix it")
	case env.Commit.Mode == 0:
		require.Equal(t, facts.ForkHeuristic, env.Diag.ForkCause)
		require.Contains(t, advice, "sysctl -w vm.overcommit_memory=1", "before 5.2 mode 0's heuristic refuses it: Redis's documented fix")
	case env.Commit.Mode == 2:
		require.Equal(t, facts.ForkCommitLimit, env.Diag.ForkCause)
	}
}

// TestRealShellForkENOMEM: a shell whose fork fails with ENOMEM fires the generic
// ENOMEM rule, never the EAGAIN one.
func TestRealShellForkENOMEM(t *testing.T) {
	noLeaks(t)
	bash := testenv.NeedBinary(t, "bash")
	// Two commands: bash would exec a lone one without forking.
	cmd := straced(t, bash, "-c", "/bin/true; /bin/true")
	killGroup(t, cmd)
	out, _ := cmd.CombinedOutput() // bash exits non-zero: it could not fork
	line := strings.TrimSpace(string(out))
	require.Contains(t, line, "fork: Cannot allocate memory")

	_, m := builtinPack(t)
	ids, _ := firedBy(m, "shell", strings.Split(line, "\n"))
	require.Equal(t, map[string]int{"generic/fork-enomem": 1}, ids, "output %q", line)
}

// TestRealPostgresForkENOMEM: a real postmaster whose fork for a new connection fails
// with ENOMEM logs "could not fork new process for connection", which fires
// postgres/fork-enomem.
func TestRealPostgresForkENOMEM(t *testing.T) {
	noLeaks(t)
	testenv.NeedRoot(t) // the server runs as the postgres user
	pg := startPostgres(t)
	bindir, port, logPath, srv, p := pg.bindir, pg.port, pg.logPath, pg.srv, pg.proc

	// Attach to the postmaster only (no -f): its next fork, for the connection, fails.
	strace := testenv.NeedBinary(t, "strace")
	tracer := start(t, exec.Command(strace, "-qq", "-o", "/dev/null", "-e", "trace=clone",
		"-e", "inject=clone:error=ENOMEM", "-p", strconv.Itoa(srv.Process.Pid)))
	for i := 0; ; i++ { // the attach may land after the first connection
		psql := exec.Command(filepath.Join(bindir, "psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-Atc", "select 1")
		psql.Env = append(os.Environ(), "PGSSLMODE=disable")
		out, err := psql.CombinedOutput()
		if err != nil {
			require.Contains(t, string(out), "could not fork new process for connection", "psql: %s", out)
			break
		}
		require.Less(t, i, 100, "strace never attached")
	}
	waitLog(t, logPath, "could not fork new process for connection", 1)
	tracer.stop(t, syscall.SIGTERM)
	p.stop(t, syscall.SIGINT)

	_, m := builtinPack(t)
	ids, _ := firedBy(m, "postgres", readLines(t, logPath))
	require.Equal(t, map[string]int{"postgres/fork-enomem": 1}, ids)
}

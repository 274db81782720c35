package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// hostile runs the built binary on hostile input and returns what it printed and how
// it ended, failing the test when it takes longer than limit or grows past maxRSS
// (the binary is built with -race, which roughly doubles its memory).
func hostile(t *testing.T, limit time.Duration, maxRSS int64, stdin *os.File, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "COWBELL_CONFIG=", "STATE_DIRECTORY="+t.TempDir())
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done //nolint:errcheck // killed
		t.Fatalf("cowbell %v did not finish within %s; stderr:\n%s", args, limit, e.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	require.LessOrEqual(t, rss, maxRSS, "peak RSS of cowbell %v", args)
	t.Logf("cowbell %s: exit %d, peak RSS %d MiB", strings.Join(args, " "), code, rss>>20)
	return o.String(), e.String(), code
}

// aliasBomb is YAML whose aliases expand tenfold at each of n levels.
func aliasBomb(n int, indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sa0: &a0 [x, x, x, x, x, x, x, x, x, x]\n", indent)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%sa%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", indent, i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	return b.String()
}

// TestHostileInputs: inputs an attacker (or an accident) can put where cowbell reads
// its configuration, rules and logs end in a clear error, in bounded time and memory,
// and never block: each case below once hung, swamped or misled cowbell.
func TestHostileInputs(t *testing.T) {
	const quick, small = 20 * time.Second, 256 << 20
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	t.Run("config is /dev/zero", func(t *testing.T) {
		_, stderr, code := hostile(t, quick, small, nil, "check", "--config", "/dev/zero")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "not a regular file (a device)")
	})
	t.Run("config is a FIFO without a writer", func(t *testing.T) {
		_, stderr, code := hostile(t, quick, small, nil, "check", "--config", fifo)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "not a regular file (a FIFO)")
	})
	t.Run("config larger than a config can be", func(t *testing.T) {
		big := filepath.Join(t.TempDir(), "big.yaml")
		f, err := os.Create(big)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(100<<20))
		require.NoError(t, f.Close())
		_, stderr, code := hostile(t, quick, small, nil, "check", "--config", big)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "too large: 104857600 bytes, more than 4194304")
	})
	t.Run("alias bomb in the config", func(t *testing.T) {
		cfg := writeConfig(t, t.TempDir(), "x-anchors:\n"+aliasBomb(9, "  ")+"routes:\n  - notifiers: *a9\n")
		_, stderr, code := hostile(t, quick, small, nil, "check", "--config", cfg)
		require.Equal(t, 1, code)
		require.Regexp(t, `cowbell.yaml:\d+:\d+: aliases expand this document to more than 1000000 nodes`, stderr)
	})
	t.Run("alias bomb in a rule file", func(t *testing.T) {
		d := t.TempDir()
		rules := filepath.Join(d, "bomb.yaml")
		require.NoError(t, os.WriteFile(rules, []byte("- id: t/bomb\n  x:\n"+aliasBomb(9, "    ")+"  title: x\n  match: x\n  tags: *a9\n"), 0o600))
		_, stderr, code := hostile(t, quick, small, nil, "check", "--rules", rules)
		require.Equal(t, 1, code)
		require.Regexp(t, `bomb.yaml:\d+:\d+: aliases expand`, stderr)
	})
	t.Run("a FIFO, a dangling and a looping link in a rules directory", func(t *testing.T) {
		d := t.TempDir()
		require.NoError(t, syscall.Mkfifo(filepath.Join(d, "a-fifo.yaml"), 0o600))
		require.NoError(t, os.Symlink(filepath.Join(d, "gone.yaml"), filepath.Join(d, "b-dangling.yaml")))
		require.NoError(t, os.Symlink(filepath.Join(d, "c-loop.yaml"), filepath.Join(d, "c-loop.yaml")))
		require.NoError(t, os.WriteFile(filepath.Join(d, "d-good.yaml"), []byte("- {id: t/good, title: good, match: x}\n"), 0o600))
		_, stderr, code := hostile(t, quick, small, nil, "check", "--rules", d)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "a-fifo.yaml: read rules:")
		require.Contains(t, stderr, "not a regular file (a FIFO)")
		require.Contains(t, stderr, "b-dangling.yaml: load rules:")
		require.Contains(t, stderr, "c-loop.yaml: load rules:")
	})
	t.Run("replay of a FIFO without a writer", func(t *testing.T) {
		stdout, _, code := hostile(t, quick, small, nil, "replay", "--no-snapshot", fifo)
		require.Zero(t, code)
		require.Empty(t, stdout)
	})
	t.Run("terminal escapes in a replayed line", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "redis.log")
		require.NoError(t, os.WriteFile(log, []byte("1:M 01 Jan 2026 00:00:00.000 # Can't save in background: fork: Cannot allocate memory \x1b]0;owned\x07\x1b[2J\u009b1m\n"), 0o600))
		stdout, _, code := hostile(t, quick, small, nil, "replay", "--no-snapshot", "--hits", log)
		require.Zero(t, code)
		require.Contains(t, stdout, "Cannot allocate memory ?]0;owned??[2J?1m")
		require.NotContains(t, stdout, "\x1b")
		require.NotContains(t, stdout, "\u009b")
	})
}

// TestCommandsStopOnSIGTERM: a command other than run, blocked on its input, ends at
// once on SIGTERM (a supervisor must not need SIGKILL).
func TestCommandsStopOnSIGTERM(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close() // held open: replay waits for more
	cmd := exec.Command(binary, "replay", "--no-snapshot", "-")
	cmd.Env = append(os.Environ(), "COWBELL_CONFIG=")
	cmd.Stdin = r
	require.NoError(t, cmd.Start())
	r.Close()
	_, err = w.WriteString("1:M 01 Jan 2026 00:00:00.000 * Background saving started by pid 42\n")
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // let it start reading: a signal before its handler is set would kill it anyway
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 128+int(syscall.SIGTERM), ee.ExitCode(), "exit status 128+SIGTERM")
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("replay ignored SIGTERM")
	}
}

// hostileRun is a `cowbell run` on hostile log files: during runs while it runs;
// then SIGTERM must end it within limit, and its peak RSS stay within maxRSS.
func hostileRun(t *testing.T, limit time.Duration, maxRSS int64, cmd *exec.Cmd, during func(d *proc)) *proc {
	t.Helper()
	d := startProc(t, cmd)
	during(d)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-d.done:
		require.NoError(t, err, "cowbell did not exit cleanly on SIGTERM")
	case <-time.After(limit):
		t.Fatalf("cowbell did not stop within %s of SIGTERM", limit)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	require.LessOrEqual(t, rss, maxRSS, "peak RSS")
	t.Logf("peak RSS %d MiB, CPU %s", rss>>20, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	return d
}

// fileSourceConfig is a configuration with one file source named app over paths
// (start_at: beginning) and metrics at addr; extra goes into the source.
func fileSourceConfig(t *testing.T, dir, addr, extra string, paths ...string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
sources:
  - {name: app, type: file, paths: %q, start_at: beginning%s}
notifiers:
  - {name: console, type: console}
metrics: {listen: %q}
`, dir, paths, extra, addr))
}

// openFDs counts the descriptors process pid holds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(ents)
}

// TestHostileLogFiles: what someone who can write in a log directory can put there
// (a FIFO, a link to a secret, tens of thousands of files, a file cowbell may not
// read) and a kmsg source on /dev/zero: cowbell reads what it should, refuses the
// rest with a warning and a metric, keeps answering, and stops on SIGTERM.
func TestHostileLogFiles(t *testing.T) {
	const limit = 10 * time.Second
	t.Run("a FIFO in a watched glob", func(t *testing.T) {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.log"), []byte("line a\n"), 0o600))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "b.log"), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "c.log"), []byte("line c\n"), 0o600))
		cfg := fileSourceConfig(t, dir, addr, "", filepath.Join(dir, "*.log"))
		hostileRun(t, limit, 256<<20, exec.Command(binary, "run", "--config", cfg), func(d *proc) {
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 2`)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_files_refused_total{reason="not_regular",source="app"} 1`)
			scrapeUntil(t, "http://"+addr+"/readyz", "source app: 1 file not regular")
			testenv.AppendFile(t, filepath.Join(dir, "c.log"), "line c2\n")
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 3`)
			d.waitLog(t, "file not read")
		})
	})
	t.Run("kmsg on /dev/zero", func(t *testing.T) {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := writeConfig(t, dir, fmt.Sprintf(`
state_dir: %s/state
sources:
  - {name: kernel, type: kmsg, path: /dev/zero}
notifiers:
  - {name: console, type: console}
metrics: {listen: %q}
`, dir, addr))
		hostileRun(t, limit, 256<<20, exec.Command(binary, "run", "--config", cfg), func(d *proc) {
			scrapeUntil(t, "http://"+addr+"/readyz", "/dev/zero is not the kernel log: character device 1:5")
		})
	})
	t.Run("20,000 files in a glob", func(t *testing.T) {
		dir := t.TempDir()
		logs := filepath.Join(dir, "logs")
		require.NoError(t, os.Mkdir(logs, 0o755))
		const files = 20000
		for i := range files {
			require.NoError(t, os.WriteFile(filepath.Join(logs, fmt.Sprintf("%05d.log", i)), []byte("started\n"), 0o600))
		}
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := fileSourceConfig(t, dir, addr, "", filepath.Join(logs, "*.log"))
		began := time.Now()
		hostileRun(t, limit, 512<<20, exec.Command(binary, "run", "--config", cfg), func(d *proc) {
			scrapeUntil(t, "http://"+addr+"/metrics", fmt.Sprintf(`cowbell_lines_read_total{source="app"} %d`, files))
			t.Logf("%d files read in %s", files, time.Since(began).Round(time.Millisecond))
			// The cap on open files (1024 by default) and what the rest of cowbell holds.
			require.Less(t, openFDs(t, d.cmd.Process.Pid), 1024+64)
			testenv.AppendFile(t, filepath.Join(logs, "00000.log"), "first again\n")
			testenv.AppendFile(t, filepath.Join(logs, "19999.log"), "last again\n")
			scrapeUntil(t, "http://"+addr+"/metrics", fmt.Sprintf(`cowbell_lines_read_total{source="app"} %d`, files+2))
			scrapeUntil(t, "http://"+addr+"/readyz", "ready")
			require.Less(t, openFDs(t, d.cmd.Process.Pid), 1024+64)
		})
	})
	t.Run("a link escaping to a file outside", func(t *testing.T) {
		dir := t.TempDir()
		logs, outside := filepath.Join(dir, "logs"), filepath.Join(dir, "outside")
		require.NoError(t, os.MkdirAll(logs, 0o755))
		require.NoError(t, os.MkdirAll(outside, 0o755))
		secret := filepath.Join(outside, "shadow")
		require.NoError(t, os.WriteFile(secret, []byte("root:$6$secret-hash-in-the-shadow:19000:0:99999:7:::\n"), 0o600))
		require.NoError(t, os.Symlink(secret, filepath.Join(logs, "x.log")))
		require.NoError(t, os.WriteFile(filepath.Join(logs, "a.log"), []byte("line a\n"), 0o600))
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := fileSourceConfig(t, dir, addr, "", filepath.Join(logs, "*.log"))
		d := hostileRun(t, limit, 256<<20, exec.Command(binary, "run", "--config", cfg), func(d *proc) {
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_files_refused_total{reason="symlink_outside",source="app"} 1`)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 1`)
			d.waitLog(t, "file not read")
			testenv.AppendFile(t, secret, "more secret\n")
			testenv.AppendFile(t, filepath.Join(logs, "a.log"), "line a2\n")
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 2`)
		})
		require.NotContains(t, d.stderr.String(), "secret-hash")
	})
	t.Run("an unreadable file", func(t *testing.T) {
		dir := t.TempDir()
		logs := filepath.Join(dir, "logs")
		require.NoError(t, os.MkdirAll(logs, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(logs, "a.log"), []byte("line a\n"), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(logs, "b.log"), []byte("line b\n"), 0o000))
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := fileSourceConfig(t, dir, addr, "", filepath.Join(logs, "*.log"))
		cmd := exec.Command(binary, "run", "--config", cfg)
		if os.Geteuid() == 0 {
			// root reads any file: run it as root without the capabilities that let it.
			setpriv := testenv.NeedBinary(t, "setpriv")
			drop := "-dac_override,-dac_read_search"
			cmd = exec.Command(setpriv, "--inh-caps="+drop, "--bounding-set="+drop, binary, "run", "--config", cfg)
		}
		hostileRun(t, limit, 256<<20, cmd, func(d *proc) {
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_files_refused_total{reason="unreadable",source="app"} 1`)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_files_refused{reason="unreadable",source="app"} 1`)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 1`)
			scrapeUntil(t, "http://"+addr+"/readyz", "source app: 1 file unreadable")
			d.waitLog(t, "permission denied")
			require.NoError(t, os.Chmod(filepath.Join(logs, "b.log"), 0o644))
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_lines_read_total{source="app"} 2`)
			scrapeUntil(t, "http://"+addr+"/metrics", `cowbell_files_refused{reason="unreadable",source="app"} 0`)
		})
	})
}

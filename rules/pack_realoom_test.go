package rules_test

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/matcher"
)

// TestRealMemcgOOMKill makes a memory cgroup with a 32 MiB limit under the test's
// own, runs `tail /dev/zero` in it (it buffers an endless line) and reads the kernel
// log: the kill is contained to that process and the pack names it, with its pid and
// cgroup, in kernel/oom-kill, and the allocation in kernel/oom-invoked.
func TestRealMemcgOOMKill(t *testing.T) {
	noLeaks(t)
	testenv.NeedRoot(t)
	tail := testenv.NeedBinary(t, "tail")
	cg, limitFile := memoryCgroup(t)
	require.NoError(t, os.WriteFile(filepath.Join(cg, limitFile), []byte(strconv.Itoa(32<<20)), 0o644))
	k := openKmsg(t)

	hog := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" /dev/zero`, "sh", cg, tail)
	p := start(t, hog)
	select {
	case <-p.done:
	case <-time.After(realTimeout):
		t.Fatalf("tail /dev/zero was not OOM-killed within %v", realTimeout)
	}
	pid := strconv.Itoa(hog.Process.Pid)
	msgs := waitKmsg(t, k, "Killed process "+pid+" ")

	_, m := builtinPack(t)
	ids, hits := firedBy(m, "kernel", msgs)
	for id := range ids {
		require.True(t, strings.HasPrefix(id, "kernel/oom-"), "unexpected %s", id)
	}
	var ours []string
	for _, h := range hits {
		if h.Rule.ID == "kernel/oom-kill" && h.Captures["pid"] == pid {
			require.Equal(t, "tail", h.Captures["task"])
			ours = append(ours, h.Line.Text)
			if h.Captures["task_memcg"] != "" {
				require.True(t, strings.HasSuffix(h.Captures["task_memcg"], "/"+filepath.Base(cg)), h.Captures["task_memcg"])
			}
		}
	}
	require.Len(t, ours, 2, "the oom-kill summary and the Killed process line: %q", msgs)
	require.Positive(t, ids["kernel/oom-invoked"])

	var summary *matcher.Hit
	for i, h := range hits {
		if h.Rule.ID == "kernel/oom-kill" && h.Captures["constraint"] != "" {
			summary = &hits[i]
		}
	}
	require.NotNil(t, summary, "the 4.19+ summary line names the constraint")
	require.Equal(t, "CONSTRAINT_MEMCG", summary.Captures["constraint"])
	env := liveIncident(t, summary.Rule.ID, summary.Captures)
	require.True(t, env.Diag.Memcg)
	advice := adviseOn(t, summary.Rule, env)
	require.Contains(t, advice, "memory cgroup's limit was hit")
	require.NotContains(t, advice, "sysctl -w", "a memory cgroup's kill is not fixed by a host sysctl")
	require.NotContains(t, advice, "min_free_kbytes")
}

// memoryCgroup creates a child of the test's own memory cgroup (v1 or v2) and returns
// its directory and limit file; t.Cleanup removes it once its process is gone.
func memoryCgroup(t *testing.T) (dir, limitFile string) {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	require.NoError(t, err)
	defer f.Close()
	var base string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		switch {
		case len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,"):
			base, limitFile = filepath.Join("/sys/fs/cgroup/memory", parts[2]), "memory.limit_in_bytes"
		case len(parts) == 3 && parts[0] == "0" && parts[1] == "" && base == "":
			base, limitFile = filepath.Join("/sys/fs/cgroup", parts[2]), "memory.max"
		}
	}
	dir = filepath.Join(base, fmt.Sprintf("cowbell-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a memory cgroup here: %v", err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	if _, err := os.Stat(filepath.Join(dir, limitFile)); err != nil {
		t.Skipf("no memory controller in %s: %v", dir, err)
	}
	return dir, limitFile
}

// removeCgroup removes a cgroup directory, retrying while the kernel still counts
// the killed process's exit in it (rmdir says EBUSY until then).
func removeCgroup(t *testing.T, dir string) {
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return
		}
		select {
		case <-deadline.C:
			t.Errorf("remove test cgroup: %v", err)
			return
		case <-tick.C:
		}
	}
}

// waitKmsg reads kernel messages until one contains want, and returns them all.
func waitKmsg(t *testing.T, k *kmsg, want string) []string {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var msgs []string
	for {
		msgs = append(msgs, k.messages(t)...)
		for _, msg := range msgs {
			if strings.Contains(msg, want) {
				return msgs
			}
		}
		select {
		case <-deadline.C:
			t.Fatalf("kernel log has no %q after %v", want, realTimeout)
		case <-tick.C:
		}
	}
}

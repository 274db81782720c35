package enrich

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// maxPerTarget caps the processes kept per target: PostgreSQL runs one process per
// connection, and the postmaster (the lowest pid) plus a few backends tell the story.
const maxPerTarget = 8

// readProcesses finds the target processes by comm under <proc> and reads their
// memory, oom_score_adj and memory cgroup. A process that exits meanwhile is skipped.
func readProcesses(c *Config, errs *readErrors) ([]facts.Process, map[string]bool) {
	running := make(map[string]bool, len(c.Targets))
	for _, t := range c.Targets {
		running[t.Name] = false
	}
	entries, err := os.ReadDir(c.Proc)
	if err != nil {
		errs.add("processes", fmt.Errorf("list processes: %w", err))
		return nil, running
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	perTarget := map[string]int{}
	var out []facts.Process
	for _, pid := range pids {
		dir := filepath.Join(c.Proc, strconv.Itoa(pid))
		comm, err := readTrimmed(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		name := targetOf(c.Targets, comm)
		if name == "" || perTarget[name] >= maxPerTarget {
			continue
		}
		p, err := readProcess(c.Sys, dir, pid, name, comm)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			errs.add("process/"+strconv.Itoa(pid), err)
		}
		perTarget[name]++
		running[name] = true
		out = append(out, p)
	}
	return out, running
}

// targetOf returns the name of the target whose comm list holds comm, or "".
func targetOf(ts []Target, comm string) string {
	for _, t := range ts {
		if slices.Contains(t.Comm, comm) {
			return t.Name
		}
	}
	return ""
}

// errGone says a process exited while it was read.
var errGone = errors.New("process exited")

// readProcess reads one target process: errGone when it exited meanwhile, otherwise
// what could be read and the failures.
func readProcess(sys, dir string, pid int, name, comm string) (facts.Process, error) {
	p := facts.Process{Name: name, Comm: comm, PID: pid}
	st, err := readStatus(filepath.Join(dir, "status"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return p, errGone
	}
	if err != nil {
		return p, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	p.VmRSSKB, p.VmSizeKB = st["VmRSS"], st["VmSize"]
	p.RssAnonKB, p.VmSwapKB = st["RssAnon"], st["VmSwap"]
	p.VmDataKB, p.VmStkKB = st["VmData"], st["VmStk"]
	p.ForkChargeKB = p.VmDataKB + p.VmStkKB
	var errs []error
	if v, err := readTrimmed(filepath.Join(dir, "oom_score_adj")); err != nil {
		errs = append(errs, fmt.Errorf("read oom_score_adj of pid %d: %w", pid, err))
	} else if p.OOMScoreAdj, err = strconv.Atoi(v); err != nil {
		errs = append(errs, fmt.Errorf("parse oom_score_adj of pid %d: %w", pid, err))
	}
	if p.Cgroup, err = readCgroup(sys, dir); err != nil {
		errs = append(errs, fmt.Errorf("cgroup of pid %d: %w", pid, err))
	}
	p.InContainer = containerPath(p.Cgroup.Path)
	return p, errors.Join(errs...)
}

// readStatus reads the kB fields of /proc/<pid>/status ("VmRSS:   1234 kB").
func readStatus(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(rest, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(rest, " kB")), 10, 64); err == nil {
			m[name] = n
		}
	}
	return m, nil
}

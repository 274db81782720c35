package enrich

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// Target finds the process an incident is about and reads it from the host, not from
// cowbell's own cgroup (in a sidecar that is the cowbell container):
//
//  1. the pid the line names (captures "pid"), when that process is still there and
//     its comm fits the incident (a container's Redis logs its own pid 1, which on
//     the host is another process);
//  2. the memory cgroup a kernel line names (task_memcg, oom_memcg), read again: an
//     OOM kill's victim is gone, its cgroup often is not;
//  3. the configured target of the incident's kind in s's process table: the
//     postmaster for PostgreSQL, the largest Redis.
//
// It reads only what s does not hold already.
func (e *Enricher) Target(s facts.Snapshot, ruleID string, captures, labels map[string]string) facts.Target {
	kind := kindOf(e.c.Targets, ruleID, captures, labels)
	if t, ok := byPID(s, kind, captures); ok {
		return t
	}
	if pid, err := strconv.Atoi(captures[rules.CapturePID]); err == nil && pid > 0 {
		if t, ok := e.readPID(pid, kind); ok {
			return t
		}
	}
	if t, ok := e.readMemcg(captures); ok {
		return t
	}
	return byKind(s, kind)
}

// TargetFrom is Target without reading the host: the pid the line names or the
// process of the incident's kind, as s holds them (replay on a captured snapshot).
func TargetFrom(s facts.Snapshot, ruleID string, captures, labels map[string]string) facts.Target {
	kind := kindOf(DefaultConfig.Targets, ruleID, captures, labels)
	if t, ok := byPID(s, kind, captures); ok {
		return t
	}
	return byKind(s, kind)
}

// kindOf says which configured target an incident is about: the rule's domain
// ("redis/…", "postgres/…"), else the process the line names (task, comm, process,
// unit captures; the journal's comm and identifier labels). "" when none fits.
func kindOf(ts []Target, ruleID string, captures, labels map[string]string) string {
	domain, _, _ := strings.Cut(ruleID, "/")
	for _, t := range ts {
		if t.Name == domain {
			return t.Name
		}
	}
	for _, v := range []string{captures[rules.CaptureTask], captures[rules.CaptureComm], captures["unit"],
		captures["program"], labels["comm"], labels["identifier"]} {
		if v == "" {
			continue
		}
		for _, t := range ts {
			for _, c := range t.Comm {
				// the kernel cuts comm to 15 bytes ("redis-rdb-bgsav"); units add
				// instance and suffix ("redis-server@cache.service").
				if strings.HasPrefix(v, c) || strings.HasPrefix(c, v) && len(v) >= 6 {
					return t.Name
				}
			}
			if strings.HasPrefix(v, t.Name) {
				return t.Name
			}
		}
	}
	return ""
}

// byPID finds the process the line names in s, if its kind fits.
func byPID(s facts.Snapshot, kind string, captures map[string]string) (facts.Target, bool) {
	pid, err := strconv.Atoi(captures[rules.CapturePID])
	if err != nil || pid <= 0 {
		return facts.Target{}, false
	}
	for _, p := range s.Processes {
		if p.PID == pid && (kind == "" || p.Name == kind) {
			return facts.Target{Process: p, Found: true, Via: "pid"}, true
		}
	}
	return facts.Target{}, false
}

// byKind picks the process of kind in s: the postmaster (the lowest pid: it forks
// every other) for PostgreSQL, the one with the largest fork charge otherwise.
func byKind(s facts.Snapshot, kind string) facts.Target {
	if kind == "" {
		return facts.Target{}
	}
	var best facts.Process
	found := false
	for _, p := range s.Processes {
		if p.Name != kind {
			continue
		}
		better := p.ForkChargeKB > best.ForkChargeKB
		if kind == "postgres" {
			better = p.PID < best.PID
		}
		if !found || better {
			best, found = p, true
		}
	}
	if !found {
		return facts.Target{}
	}
	return facts.Target{Process: best, Found: true, Via: "process table"}
}

// readPID reads a process the snapshot did not list. Its comm must belong to kind
// (when kind is known), so a pid from another PID namespace is not taken for it.
func (e *Enricher) readPID(pid int, kind string) (facts.Target, bool) {
	dir := filepath.Join(e.c.Proc, strconv.Itoa(pid))
	comm, err := readTrimmed(filepath.Join(dir, "comm"))
	if err != nil {
		return facts.Target{}, false
	}
	name := targetOf(e.c.Targets, comm)
	if kind != "" && name != kind {
		return facts.Target{}, false
	}
	p, err := readProcess(e.c.Sys, dir, pid, name, comm)
	if errors.Is(err, errGone) {
		return facts.Target{}, false
	}
	return facts.Target{Process: p, Found: true, Via: "pid"}, true
}

// readMemcg reads the memory cgroup a kernel OOM line names, under either hierarchy:
// the victim's (task_memcg), else the one that hit its limit (oom_memcg), which
// outlives a restarted container's.
func (e *Enricher) readMemcg(captures map[string]string) (facts.Target, bool) {
	for _, path := range []string{captures["task_memcg"], captures["oom_memcg"]} {
		if path == "" || !strings.HasPrefix(path, "/") || strings.Contains(path, "..") {
			continue
		}
		cg, ok := readCgroupAt(e.c.Sys, path)
		if !ok {
			continue
		}
		t := facts.Target{Found: true, Via: "cgroup"}
		t.Name = kindOf(e.c.Targets, "", captures, nil)
		t.Comm = captures[rules.CaptureTask]
		t.PID, _ = strconv.Atoi(captures[rules.CapturePID])
		t.Cgroup, t.InContainer = cg, containerPath(path)
		return t, true
	}
	return facts.Target{}, false
}

// readCgroupAt reads the memory cgroup at path, v2 first, then v1's memory
// controller; ok is false when neither has it.
func readCgroupAt(sys, path string) (facts.Cgroup, bool) {
	v2 := cgroupDir(sys, 2, path)
	if _, err := os.Stat(filepath.Join(v2, "memory.max")); err == nil {
		cg, _ := readCgroupV2(v2, path)
		return cg, true
	}
	if v1 := cgroupDir(sys, 1, path); dirExists(v1) {
		cg, _ := readCgroupV1(v1, path)
		return cg, true
	}
	return facts.Cgroup{}, false
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

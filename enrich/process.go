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
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// maxPerTarget caps the processes kept per target: PostgreSQL runs one process per
// connection, and the postmaster (the lowest pid) plus a few backends tell the story.
const maxPerTarget = 8

// readProcesses finds the target processes by comm under <proc> and reads their
// memory, oom_score_adj and memory cgroup. A process that exits meanwhile is skipped.
func readProcesses(c *Config, errs *readErrors) ([]facts.Process, map[string]bool, map[string]facts.ProcessTotal) {
	running := make(map[string]bool, len(c.Targets))
	for _, t := range c.Targets {
		running[t.Name] = false
	}
	entries, err := os.ReadDir(c.Proc)
	if err != nil {
		errs.add("processes", fmt.Errorf("list processes: %w", err))
		return nil, running, nil
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
	totals := map[string]facts.ProcessTotal{}
	for _, pid := range pids {
		dir := filepath.Join(c.Proc, strconv.Itoa(pid))
		comm, err := readTrimmed(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		name := targetOf(c.Targets, comm)
		if name == "" {
			continue
		}
		if perTarget[name] >= maxPerTarget {
			// Past the detailed few, only what the process commits is counted.
			if st, err := readStatus(filepath.Join(dir, "status")); err == nil {
				tot := totals[name]
				tot.Count++
				tot.ChargeKB += st["VmData"] + st["VmStk"]
				totals[name] = tot
			}
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
		tot := totals[name]
		tot.Count++
		tot.ChargeKB += p.ForkChargeKB
		totals[name] = tot
	}
	if len(totals) == 0 {
		totals = nil
	}
	return out, running, totals
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
	p.SysAdmin = st[capEff]&(1<<capSysAdmin) != 0
	if kb, err := largestPrivateWritable(filepath.Join(dir, "maps")); err == nil {
		p.LargestMappingKB = kb
	}
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

// capEff is the key readStatus gives the effective capability set, and capSysAdmin
// CAP_SYS_ADMIN's bit in it (linux/capability.h).
const (
	capEff      = "CapEff"
	capSysAdmin = 21
)

// readStatus reads the kB fields of /proc/<pid>/status ("VmRSS:   1234 kB"), and
// CapEff, a hexadecimal mask, as a number.
func readStatus(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && name == capEff {
			if n, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64); err == nil {
				m[name] = int64(n & (1<<63 - 1))
			}
			continue
		}
		if !ok || !strings.HasSuffix(rest, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(rest, " kB")), 10, 64); err == nil {
			m[name] = n
		}
	}
	return m, nil
}

// largestPrivateWritable returns the size in kB of the largest private writable
// mapping in a /proc/<pid>/maps file ("7f..-7f.. rw-p ..."): the mappings the kernel
// accounts (VM_ACCOUNT), less hugetlb ones, which it does not. maps lists mappings
// without walking page tables, so it is cheap even for a large process.
func largestPrivateWritable(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var largest int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || len(f[1]) < 4 || f[1][1] != 'w' || f[1][3] != 'p' {
			continue
		}
		if len(f) >= 6 && strings.Contains(f[5], "anon_hugepage") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end < start {
			continue
		}
		largest = max(largest, int64((end-start)>>10))
	}
	return largest, nil
}

// readAccounted returns what a /proc/<pid>/smaps says the kernel accounts of the
// process (mappings whose VmFlags hold "ac", VM_ACCOUNT): their total and the
// largest, in kB. Reading smaps walks the page tables of every mapping under the
// mmap lock, so it is kept for confirming a forecast refusal (see confirmForks).
func readAccounted(path string) (totalKB, largestKB int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var size int64 // of the mapping whose fields are being read
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if slices.Contains(strings.Fields(flags), "ac") {
				totalKB += size
				largestKB = max(largestKB, size)
			}
			continue
		}
		// A mapping's header: "7f..-7f.. rw-p ...". Field lines start with a
		// capitalised name and a colon.
		r, _, ok := strings.Cut(line, " ")
		lo, hi, isRange := strings.Cut(r, "-")
		if !ok || !isRange {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end < start {
			size = 0
			continue
		}
		size = int64((end - start) >> 10)
	}
	return totalKB, largestKB, sc.Err()
}

// accountedFor is how long a reading of smaps is reused for one process: it is
// what a page-table walk of a large Redis costs, once in that time at most.
const accountedFor = 5 * time.Minute

// accountedReading is one smaps reading of a process, with the VmData + VmStk it
// had then.
type accountedReading struct {
	at                 time.Time
	chargeKB           int64
	totalKB, largestKB int64
}

// confirmForks reads smaps for each Redis whose next fork s's cheap figures forecast
// refused (VmData + VmStk counts MAP_NORESERVE memory a fork does not charge), and
// reports whether any process gained its accounted figures, after which the
// forecast must be computed again. A reading is reused for accountedFor, with what
// VmData + VmStk grew since added as accounted (strict mode accounts every new
// mapping); a process that shrank is read again.
func (e *Enricher) confirmForks(s *facts.Snapshot) bool {
	seen := map[int]bool{}
	changed := false
	for _, r := range s.Forecast.Redis {
		if !r.ForkRefused || r.ChargeFrom != "proc" {
			continue
		}
		i := slices.IndexFunc(s.Processes, func(p facts.Process) bool { return p.PID == r.PID })
		if i < 0 {
			continue
		}
		p := &s.Processes[i]
		seen[p.PID] = true
		a, ok := e.accounted[p.PID]
		if !ok || s.Taken.Sub(a.at) >= accountedFor || p.ForkChargeKB < a.chargeKB {
			total, largest, err := readAccounted(filepath.Join(e.c.Proc, strconv.Itoa(p.PID), "smaps"))
			if err != nil || total == 0 {
				delete(e.accounted, p.PID) // the cheap figures stand
				continue
			}
			a = accountedReading{at: s.Taken, chargeKB: p.ForkChargeKB, totalKB: total, largestKB: largest}
			e.accounted[p.PID] = a
		}
		grown := p.ForkChargeKB - a.chargeKB
		p.AccountedKB = min(a.totalKB+grown, p.ForkChargeKB)
		p.LargestAccountedKB = max(a.largestKB, grown)
		changed = true
	}
	for pid := range e.accounted {
		if !seen[pid] {
			delete(e.accounted, pid)
		}
	}
	return changed
}

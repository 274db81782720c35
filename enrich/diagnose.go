package enrich

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// memcgNear is the usage of its limit at which a memory cgroup refuses a fork's
// kernel memory: reclaim then has little to give back.
const memcgNear = 0.9

// NewEnv is what a rule's conditions and advice see for one incident: the snapshot,
// the line's captures and labels, the process the incident is about (from Target or
// TargetFrom) and the diagnosis of both. An incident that shows a container (a
// container's log, a kernel line naming a container's cgroup, a target in one) gets
// the host recommendation with the caveat that it is made on the node.
func NewEnv(s facts.Snapshot, t facts.Target, captures, labels map[string]string) facts.Env {
	if s.Recommend.Text == "" && s.VM != nil {
		s.Recommend = Recommend(s)
	}
	env := facts.Env{Snapshot: s, Captures: captures, Labels: labels, Target: t}
	env.Diag = Diagnose(s, t, captures)
	if !s.Recommend.OnNode && s.Recommend.Text != "" && incidentInContainer(t, captures, labels) {
		r := s.Recommend
		r.OnNode = true
		r.Text = recommendText(s, r)
		env.Recommend = r
	}
	return env
}

// incidentInContainer reports whether an incident shows a container: its line came
// from a container's log, names a container's memory cgroup, or its process runs in
// one.
func incidentInContainer(t facts.Target, captures, labels map[string]string) bool {
	if t.InContainer {
		return true
	}
	for _, k := range []string{"container", "container_id", "pod"} {
		if labels[k] != "" {
			return true
		}
	}
	for _, k := range []string{"task_memcg", "oom_memcg", "cgroup"} {
		if containerPath(captures[k]) {
			return true
		}
	}
	return false
}

// Diagnose concludes what it can about an incident from its captures, its target
// process and the snapshot: whether a memory cgroup's limit is the story rather than
// the host's memory, and why a fork of the target would fail with ENOMEM on this
// kernel and mode.
func Diagnose(s facts.Snapshot, t facts.Target, captures map[string]string) facts.Diagnosis {
	var d facts.Diagnosis
	switch {
	case captures["constraint"] == "CONSTRAINT_MEMCG" || captures["oom_memcg"] != "" ||
		captures["scope"] == "Memory cgroup out of memory":
		d.Memcg = true
		d.MemcgPath = firstOf(captures["oom_memcg"], captures["task_memcg"], t.Cgroup.Path)
	case captures["constraint"] != "" || captures["scope"] == "Out of memory":
		// The kernel says the host ran out (CONSTRAINT_NONE, a cpuset, a mempolicy).
	case t.Found && t.Cgroup.LimitBytes > 0 && (t.Cgroup.UsageRatio >= memcgNear || t.Cgroup.OOMKill > 0):
		d.Memcg, d.MemcgPath = true, t.Cgroup.Path
	}
	d.ForkCause, d.ForkText = forkCause(s, t)
	return d
}

// forkCause says why a fork of t fails with ENOMEM on this snapshot. The kernel's
// paths (Linux 4.x to 6.x):
//
//   - kernel/fork.c (mm/mmap.c from 6.16) dup_mmap charges every VM_ACCOUNT mapping
//     of the parent (private writable ones) through security_vm_enough_memory_mm →
//     mm/util.c __vm_enough_memory, one mapping at a time;
//   - there, mode 1 always succeeds; mode 2 fails once Committed_AS would pass
//     CommitLimit; mode 0 before 5.2 fails a mapping larger than free + file pages −
//     shmem + free swap + reclaimable slab − reserves, and from 5.2 (8c7829b04c52,
//     "mm: fix false-positive OVERCOMMIT_GUESS failures") only one larger than RAM +
//     swap;
//   - the child's task, stack, mm and page tables are charged to the memory cgroup
//     (GFP_KERNEL_ACCOUNT), which fails at its limit when reclaim cannot make room;
//   - alloc_pid returns ENOMEM once the PID namespace's init has exited.
func forkCause(s facts.Snapshot, t facts.Target) (string, string) {
	c := s.Commit
	who := describe(t)
	charge := t.ForkChargeKB
	near := t.Found && t.Cgroup.LimitBytes > 0 && t.Cgroup.UsageRatio >= memcgNear
	ram := s.Meminfo["MemTotal"] + s.Meminfo["SwapTotal"]
	var b strings.Builder
	chargeText := "the parent's private writable memory"
	if charge > 0 {
		chargeText = who + "'s private writable memory (VmData + VmStk: " + human(charge) + ")"
	}
	switch {
	case near:
		fmt.Fprintf(&b, "%s's memory cgroup %s is at %s of its %s limit (%s): a fork charges the "+
			"child's kernel memory (task and mm structures, page tables) to that cgroup, and at "+
			"its limit the charge fails with ENOMEM whatever the overcommit mode.",
			who, t.Cgroup.Path, rules.FormatBytes(t.Cgroup.UsageBytes), rules.FormatBytes(t.Cgroup.LimitBytes),
			rules.FormatPct(t.Cgroup.UsageRatio))
		if c.Mode == 2 && charge > c.HeadroomKB {
			fmt.Fprintf(&b, " Strict mode would also refuse it: it charges %s again and CommitLimit "+
				"leaves %s.", human(charge), human(c.HeadroomKB))
		}
		return facts.ForkMemcg, b.String()
	case c.Mode == 2:
		fmt.Fprintf(&b, "Strict mode 2: a fork charges %s again, and CommitLimit %s less "+
			"Committed_AS %s leaves %s.", chargeText, human(c.LimitKB), human(c.CommittedKB), human(c.HeadroomKB))
		if charge > 0 && charge <= c.HeadroomKB {
			b.WriteString(" It fits now, so Committed_AS was higher when the fork failed.")
		}
		return facts.ForkCommitLimit, b.String()
	case c.Mode == 0 && kernelBefore(s.Kernel, 5, 2):
		free, _ := ForkRoom(s)
		fmt.Fprintf(&b, "On Linux %s (before 5.2) mode 0 refuses a fork when one of the parent's "+
			"private writable mappings is larger than the memory it counts as free (free, page "+
			"cache less shared memory, free swap, reclaimable slab: %s now); the fork charges %s.",
			s.Kernel.Release, human(free), chargeText)
		if charge > 0 && charge <= free {
			b.WriteString(" It fits now, so less was free when the fork failed.")
		}
		return facts.ForkHeuristic, b.String()
	case c.Mode == 0 && ram > 0 && charge > ram: // ForkRoom on 5.2 and later
		fmt.Fprintf(&b, "Mode 0 refuses a mapping larger than RAM + swap (%s); the fork charges %s.",
			human(ram), chargeText)
		return facts.ForkHeuristic, b.String()
	}
	if c.Mode == 1 {
		b.WriteString("vm.overcommit_memory is 1, which never refuses memory on commit grounds, ")
	} else {
		fmt.Fprintf(&b, "On Linux %s mode 0 refuses only a mapping larger than RAM + swap (%s; "+
			"the heuristic was simplified in 5.2), and the fork charges %s, ", releaseOr(s.Kernel), human(ram), chargeText)
	}
	b.WriteString("so the overcommit policy did not refuse this fork and changing it does not " +
		"help. ENOMEM from fork is left with: ")
	switch {
	case t.Found && t.Cgroup.LimitBytes > 0:
		fmt.Fprintf(&b, "the memory cgroup %s charging the child's kernel memory (at %s of %s, "+
			"%s, now; it may have been fuller then), ", t.Cgroup.Path, rules.FormatBytes(t.Cgroup.UsageBytes),
			rules.FormatBytes(t.Cgroup.LimitBytes), rules.FormatPct(t.Cgroup.UsageRatio))
	default:
		b.WriteString("a memory cgroup at its limit charging the child's kernel memory, ")
	}
	fmt.Fprintf(&b, "a PID namespace whose init has exited (alloc_pid refuses new pids with "+
		"ENOMEM: a container being torn down), or a kernel allocation that failed "+
		"(MemAvailable is %s now).", human(s.Meminfo["MemAvailable"]))
	return facts.ForkNotOvercommit, b.String()
}

// describe names a target process in advice: "redis-server (pid 812)".
func describe(t facts.Target) string {
	name := t.Comm
	if name == "" {
		name = t.Name
	}
	switch {
	case name == "":
		return "the process"
	case t.PID > 0:
		return name + " (pid " + strconv.Itoa(t.PID) + ")"
	}
	return name
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ForkRoom is how much a fork may charge before the overcommit policy of s refuses it,
// by the running kernel's rule (mm/util.c __vm_enough_memory, called by dup_mmap for
// each private writable mapping of the parent): under mode 2 the whole charge must fit
// in CommitLimit − Committed_AS; under mode 0 each mapping must be smaller than the
// free-memory estimate (before 5.2) or than RAM + swap (5.2 and later), so perMapping
// is true; under mode 1 nothing is refused and roomKB is -1.
func ForkRoom(s facts.Snapshot) (roomKB int64, perMapping bool) {
	switch s.Commit.Mode {
	case 1:
		return -1, false
	case 2:
		return s.Commit.HeadroomKB, false
	}
	if kernelBefore(s.Kernel, 5, 2) {
		return heuristicFreeKB(s), true
	}
	return s.Meminfo["MemTotal"] + s.Meminfo["SwapTotal"], true
}

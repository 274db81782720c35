package enrich

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// The documents the host recommendation rests on.
//
//nolint:gosec // G101 takes "overcommit" URLs for credentials: they are documentation.
const (
	DocKernelOvercommit   = "https://docs.kernel.org/mm/overcommit-accounting.html"
	DocKernelSysctlVM     = "https://docs.kernel.org/admin-guide/sysctl/vm.html#overcommit-memory"
	DocPostgresOvercommit = "https://www.postgresql.org/docs/current/kernel-resources.html#LINUX-MEMORY-OVERCOMMIT"
	DocRedisAdmin         = "https://redis.io/docs/latest/operate/oss_and_stack/management/admin/"
	DocRedisFAQFork       = "https://redis.io/docs/latest/develop/get-started/faq/#background-saving-fails-with-a-fork-error-on-linux"
)

// sysctlFile is where the persisted setting goes, for every rule alike.
const sysctlFile = "/etc/sysctl.d/90-cowbell-overcommit.conf"

// limitStep rounds a limit sized from what is committed now up to 256 MiB, so that
// Committed_AS moving by a few pages does not change the advice.
const limitStep = 256 << 10

// Recommend decides the one overcommit setting the host of s should have, and why.
// It depends only on the snapshot, so every rule on a host quotes the same setting:
//
//   - PostgreSQL runs: strict mode 2, whatever else runs. Its documentation asks for
//     it so that a shortage fails one allocation instead of an OOM kill, which
//     restarts the whole cluster. The limit is the baseline (80 % of usable memory
//     plus min(2 GiB, a tenth)), raised to hold what is committed now plus the next
//     Redis fork when Redis runs too, and never above RAM: CommitLimit ≤ RAM + swap.
//   - Redis alone: mode 1, as Redis documents; the reason given follows the running
//     kernel (before 5.2, mode 0's heuristic refuses big forks; from 5.2 it refuses
//     only a mapping larger than RAM + swap).
//   - Neither: keep what the host runs.
//
// On a 6.5 kernel showing the Committed_AS leak the advice is to upgrade or reboot
// first; the limit is not raised to chase the leak.
func Recommend(s facts.Snapshot) facts.Recommendation {
	if s.VM == nil { // vm.* could not be read: nothing to compare a setting with
		return facts.Recommendation{}
	}
	redis, pg := s.Running["redis"], s.Running["postgres"]
	r := facts.Recommendation{Leak: s.Commit.LeakSuspected, OnNode: onNode(s)}
	if redis {
		r.ForkReserveKB = redisForkKB(s)
	}
	switch {
	case pg:
		r.For = "postgres"
		if redis {
			r.For = "redis+postgres"
		}
		strict(s, &r)
	case redis:
		r.For = "redis"
		always(s, &r)
	default:
		r.For = "none"
		keep(s, &r)
	}
	r.Docs = recommendDocs(r.For)
	if r.Change && !r.Leak && r.Fits {
		r.Commands, r.Persist = commands(r)
	}
	r.Text = recommendText(s, r)
	return r
}

// onNode reports whether the setting must be made on the node: cowbell or a target
// process runs in a container, and vm.* cannot be changed from inside one.
func onNode(s facts.Snapshot) bool {
	if s.Container {
		return true
	}
	for _, p := range s.Processes {
		if p.InContainer {
			return true
		}
	}
	return false
}

// redisForkKB is the commit charge of the next Redis fork: the largest private
// writable memory of a Redis process, or the largest used_memory_rss of the
// configured addresses' INFO (a lower bound) when no process was read.
func redisForkKB(s facts.Snapshot) int64 {
	var kb int64
	for _, p := range s.Processes {
		if p.Name == "redis" && p.ForkChargeKB > kb {
			kb = p.ForkChargeKB
		}
	}
	if kb > 0 {
		return kb
	}
	for _, info := range append([]map[string]string{s.Redis}, redisInfos(s.RedisInstances)...) {
		if b, err := strconv.ParseInt(info["used_memory_rss"], 10, 64); err == nil {
			kb = max(kb, b/1024)
		}
	}
	return kb
}

// strict sizes mode 2 for everything on the host.
func strict(s facts.Snapshot, r *facts.Recommendation) {
	c := s.Commit
	swap := s.Meminfo["SwapTotal"]
	r.Mode = 2
	r.NeedKB = c.CommittedKB + r.ForkReserveKB
	kb := c.RecommendedKbytes
	if c.UsableKB > 0 && !r.Leak && r.NeedKB-swap > kb {
		kb = min(roundUp(r.NeedKB-swap, limitStep), c.UsableKB)
	}
	r.OvercommitKbytes = kb
	r.CommitLimitKB = kb + swap
	r.Fits = c.UsableKB > 0 && !r.Leak && r.NeedKB <= r.CommitLimitKB
	off := c.LimitKB - r.CommitLimitKB
	r.Change = c.Mode != 2 || off > r.CommitLimitKB/10 || -off > r.CommitLimitKB/10 || c.LimitKB < r.NeedKB
	var b strings.Builder
	if r.For == "redis+postgres" {
		fmt.Fprintf(&b, "PostgreSQL and Redis run here. PostgreSQL's documentation asks for strict "+
			"mode so that a shortage fails one allocation with an error instead of an OOM kill, "+
			"which restarts the whole cluster; mode 1 would trade Redis's refused forks for "+
			"exactly those kills, so the host runs mode 2 and its limit holds Redis's next fork "+
			"too (%s of private writable memory, accounted again at fork). ", human(r.ForkReserveKB))
	} else {
		b.WriteString("PostgreSQL runs here. Its documentation asks for strict mode so that a " +
			"shortage fails one allocation with an error instead of an OOM kill, which restarts " +
			"the whole cluster. ")
	}
	switch {
	case c.UsableKB <= 0:
		b.WriteString("/proc/meminfo could not be read, so the limit cannot be sized here.")
	case r.Leak:
	case kb == c.RecommendedKbytes:
		fmt.Fprintf(&b, "The limit is this host's baseline: 80%% of usable memory (%s, RAM less "+
			"static huge pages) for processes, the rest for the kernel and the page cache, plus "+
			"%s for address space that sidecars reserve and never touch. ", human(c.UsableKB),
			human(c.RecommendedKbytes-c.UsableKB*8/10))
	default:
		fmt.Fprintf(&b, "What runs here already commits more than the baseline (%s), so the "+
			"limit is raised to hold it, up to RAM at most. ", human(c.RecommendedKbytes))
	}
	if c.UsableKB > 0 && !r.Leak {
		fmt.Fprintf(&b, "CommitLimit becomes %s (overcommit_kbytes plus %s of swap); Committed_AS "+
			"is %s now", human(r.CommitLimitKB), human(swap), human(c.CommittedKB))
		if r.ForkReserveKB > 0 {
			fmt.Fprintf(&b, ", %s with Redis's next fork", human(r.NeedKB))
		}
		if r.Fits {
			fmt.Fprintf(&b, ", which leaves %s.", human(r.CommitLimitKB-r.NeedKB))
		} else {
			b.WriteString(", more than strict mode can hold on this host.")
		}
	}
	r.Reason = b.String()
}

// always recommends mode 1 for a host whose only database is Redis.
func always(s facts.Snapshot, r *facts.Recommendation) {
	c := s.Commit
	r.Mode, r.Fits = 1, true
	r.Change = c.Mode != 1
	var b strings.Builder
	b.WriteString("Redis runs here and PostgreSQL does not. Redis documents mode 1: the kernel " +
		"then never refuses the fork of BGSAVE, an AOF rewrite or a full resync, and the " +
		"copy-on-write pages of the save must fit in memory. ")
	fork := "its fork"
	if r.ForkReserveKB > 0 {
		fork = "its fork (" + human(r.ForkReserveKB) + " of private writable memory, accounted again at fork)"
	}
	switch {
	case c.Mode == 2:
		fmt.Fprintf(&b, "Under strict mode 2 %s must fit in CommitLimit less Committed_AS "+
			"(%s left now), and nothing on this host needs strict mode.", fork, human(c.HeadroomKB))
	case c.Mode == 0 && kernelBefore(s.Kernel, 5, 2):
		fmt.Fprintf(&b, "On Linux %s (before 5.2) mode 0's heuristic refuses %s when a single "+
			"mapping is larger than the memory it counts as free (free, page cache less shared "+
			"memory, swap and reclaimable slab: %s now): Redis's documented failure.",
			s.Kernel.Release, fork, human(heuristicFreeKB(s)))
	case c.Mode == 0:
		fmt.Fprintf(&b, "On Linux %s mode 0 refuses a fork only for a mapping larger than RAM + "+
			"swap (%s; the heuristic was simplified in 5.2), so it does not refuse %s; mode 1 is "+
			"still what Redis documents and checks at every start (its overcommit warning).",
			releaseOr(s.Kernel), human(s.Meminfo["MemTotal"]+s.Meminfo["SwapTotal"]), fork)
	default:
		b.WriteString("This host runs it already.")
	}
	r.Reason = b.String()
}

// keep leaves the host's mode alone: no database was found to decide for.
func keep(s facts.Snapshot, r *facts.Recommendation) {
	r.Mode, r.Fits = s.Commit.Mode, true
	r.Reason = fmt.Sprintf("No Redis or PostgreSQL process was found on this host, so nothing "+
		"here asks for another overcommit mode: keep vm.overcommit_memory=%d.", s.Commit.Mode)
}

// recommendDocs lists the documents a recommendation for what rests on.
func recommendDocs(what string) []string {
	docs := []string{DocKernelOvercommit, DocKernelSysctlVM}
	if strings.Contains(what, "postgres") {
		docs = append(docs, DocPostgresOvercommit)
	}
	if strings.Contains(what, "redis") {
		docs = append(docs, DocRedisAdmin, DocRedisFAQFork)
	}
	return docs
}

// recommendText writes the recommendation as advice quotes it.
func recommendText(s facts.Snapshot, r facts.Recommendation) string {
	var b strings.Builder
	b.WriteString("Host setting (the same in every incident on this host): ")
	switch {
	case r.Mode == 2 && r.OvercommitKbytes > 0:
		fmt.Fprintf(&b, "vm.overcommit_memory=2 with vm.overcommit_kbytes=%d (%s).",
			r.OvercommitKbytes, human(r.OvercommitKbytes))
	default:
		fmt.Fprintf(&b, "vm.overcommit_memory=%d.", r.Mode)
	}
	b.WriteString(" ")
	b.WriteString(r.Reason)
	switch {
	case r.Leak:
		total := s.Meminfo["MemTotal"] + s.Meminfo["SwapTotal"]
		fmt.Fprintf(&b, "\nFirst: Committed_AS is %s, %.0f times RAM + swap (%s), on Linux %s: the "+
			"6.5 accounting leak (mremap's move_vma charged commit again on every move; fixed in "+
			"6.5.4 and 6.6). Upgrade the kernel, or reboot to reset the counter; do not raise "+
			"vm.overcommit_kbytes to keep up with it, which only moves the day strict mode "+
			"refuses allocations.", human(s.Commit.CommittedKB), float64(s.Commit.CommittedKB)/float64(max(total, 1)),
			human(total), releaseOr(s.Kernel))
	case r.Mode == 2 && !r.Fits && r.OvercommitKbytes > 0:
		b.WriteString("\nDo not switch yet: strict mode would refuse allocations at once. First " +
			"bring the commitment down: a pooler in front of PostgreSQL with fewer " +
			"max_connections, a smaller shared_buffers or work_mem")
		if r.ForkReserveKB > 0 {
			b.WriteString(", Redis's persistence on a replica on another host (or a lower maxmemory)")
		}
		b.WriteString(", sidecars that reserve large address spaces (`ps -eo pid,comm,vsz --sort=-vsz`); " +
			"or add swap, which raises CommitLimit one for one. Mode 1 is not the way out: it " +
			"brings the OOM killer back to PostgreSQL.")
	}
	switch {
	case r.Commands != "":
		fmt.Fprintf(&b, "\nRun:\n%sPersist in %s:\n%s", r.Commands, sysctlFile, r.Persist)
	case !r.Change:
		b.WriteString("\nThe host runs this already; keep it persisted in /etc/sysctl.d.")
	}
	if r.OnNode {
		b.WriteString("\nvm.* settings are host-wide and /proc/sys is read-only in a container: " +
			"make the change on the node (its /etc/sysctl.d, the node image, or a privileged " +
			"DaemonSet that tunes each node), for every workload on that node; never in a pod spec.")
	}
	b.WriteString("\nSources: ")
	b.WriteString(strings.Join(r.Docs, " "))
	return b.String()
}

// commands returns the sysctl commands and persisted lines of r. The limit is set
// before the mode, so mode 2 never applies the default ratio in between.
func commands(r facts.Recommendation) (run, persist string) {
	if r.Mode == 2 {
		return fmt.Sprintf("  sysctl -w vm.overcommit_kbytes=%d\n  sysctl -w vm.overcommit_memory=2\n", r.OvercommitKbytes),
			fmt.Sprintf("  vm.overcommit_kbytes = %d\n  vm.overcommit_memory = 2\n", r.OvercommitKbytes)
	}
	return fmt.Sprintf("  sysctl -w vm.overcommit_memory=%d\n", r.Mode),
		fmt.Sprintf("  vm.overcommit_memory = %d\n", r.Mode)
}

// heuristicFreeKB is what mode 0 counted as free before Linux 5.2 (mm/util.c
// __vm_enough_memory, OVERCOMMIT_GUESS): free pages, file pages less shmem, free swap
// and reclaimable slab, less the admin reserve a non-root process leaves.
func heuristicFreeKB(s facts.Snapshot) int64 {
	m := s.Meminfo
	free := m["MemFree"] + m["Cached"] + m["Buffers"] + m["SwapCached"] - m["Shmem"] + m["SwapFree"] + m["SReclaimable"]
	return max(free-s.VM["admin_reserve_kbytes"], 0)
}

// kernelBefore reports whether k is older than major.minor; an unknown kernel is not.
func kernelBefore(k facts.Kernel, major, minor int) bool {
	if k.Major == 0 {
		return false
	}
	return k.Major < major || k.Major == major && k.Minor < minor
}

func releaseOr(k facts.Kernel) string {
	if k.Release == "" {
		return "(release unknown)"
	}
	return k.Release
}

func roundUp(v, step int64) int64 {
	if v <= 0 {
		return 0
	}
	return (v + step - 1) / step * step
}

// human prints a kB figure the way advice templates do.
func human(kb int64) string { return rules.FormatKB(kb) }

// redisInfos is the INFO of each further configured Redis.
func redisInfos(rs []facts.RedisInfo) []map[string]string {
	out := make([]map[string]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Info)
	}
	return out
}

package enrich

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// Advice asking for one overcommit mode or the other, as advice texts write it:
// "vm.overcommit_memory=1", "vm.overcommit_memory = 2", "echo 1 > /proc/sys/vm/overcommit_memory".
var (
	wantsMode1 = regexp.MustCompile(`overcommit_memory\s*=\s*1\b|echo\s+1\s*>\s*/proc/sys/vm/overcommit_memory`)
	wantsMode2 = regexp.MustCompile(`overcommit_memory\s*=\s*2\b|echo\s+2\s*>\s*/proc/sys/vm/overcommit_memory`)
)

// sysctlFile is where the persisted setting goes.
const sysctlFile = "/etc/sysctl.d/90-cowbell-overcommit.conf"

// ReconciledWhen is the When of the advice Reconcile writes.
const ReconciledWhen = "running.redis && running.postgres"

// Reconcile replaces contradicting overcommit advice with one setting for this host.
// When Redis and PostgreSQL both run here and rs holds advice for
// vm.overcommit_memory=1 (Redis's fork) and for =2 (PostgreSQL's strict accounting),
// those entries become one, placed where the first stood: strict mode 2 with this
// host's overcommit_kbytes when the commit headroom it leaves covers Redis's fork,
// otherwise mode 1 with PostgreSQL protected from the OOM killer. Other advice, and
// rs on a host without the conflict, is returned unchanged.
func Reconcile(rs []Applied, env facts.Env) []Applied {
	if !env.Running["redis"] || !env.Running["postgres"] {
		return rs
	}
	var one, two []int
	for i, a := range rs {
		m1, m2 := wantsMode1.MatchString(a.Text), wantsMode2.MatchString(a.Text)
		switch {
		case m1 && !m2:
			one = append(one, i)
		case m2 && !m1:
			two = append(two, i)
		}
	}
	if len(one) == 0 || len(two) == 0 {
		return rs
	}
	merged := reconciled(env.Snapshot)
	drop := map[int]bool{}
	for _, i := range append(one, two...) {
		drop[i] = true
		for k, v := range rs[i].Facts {
			if _, ok := merged.Facts[k]; !ok {
				merged.Facts[k] = v
			}
		}
	}
	first := min(one[0], two[0])
	out := make([]Applied, 0, len(rs)-len(drop)+1)
	for i, a := range rs {
		switch {
		case i == first:
			out = append(out, merged)
		case !drop[i]:
			out = append(out, a)
		}
	}
	return out
}

// forkNeed is how much commit Redis's fork may need, and from which fact: INFO's
// used_memory when Redis answered, else the largest Redis process's RSS.
func forkNeed(s facts.Snapshot) (kb int64, fact, value string) {
	if v, ok := s.Redis["used_memory"]; ok {
		if b, err := strconv.ParseInt(v, 10, 64); err == nil {
			return b / 1024, "redis.used_memory", v
		}
	}
	for _, p := range s.Processes {
		if p.Name == "redis" && p.VmRSSKB > kb {
			kb = p.VmRSSKB
		}
	}
	return kb, "redis.vm_rss_kb", strconv.FormatInt(kb, 10)
}

// reconciled writes the one setting for a host running both Redis and PostgreSQL.
func reconciled(s facts.Snapshot) Applied {
	c := s.Commit
	swap := s.Meminfo["SwapTotal"]
	need, needFact, needValue := forkNeed(s)
	limit := c.RecommendedKbytes + swap
	headroom := limit - c.CommittedKB
	a := Applied{
		When: ReconciledWhen,
		Facts: map[string]string{
			"running.redis":             "true",
			"running.postgres":          "true",
			"vm.overcommit_memory":      strconv.FormatInt(s.VM["overcommit_memory"], 10),
			"commit.committed_kb":       strconv.FormatInt(c.CommittedKB, 10),
			"commit.usable_kb":          strconv.FormatInt(c.UsableKB, 10),
			"commit.recommended_kbytes": strconv.FormatInt(c.RecommendedKbytes, 10),
			"meminfo.SwapTotal":         strconv.FormatInt(swap, 10),
			"container":                 strconv.FormatBool(s.Container),
			needFact:                    needValue,
		},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Redis and PostgreSQL run on this host and their advice conflicts: Redis wants "+
		"vm.overcommit_memory=1 so its fork for BGSAVE and AOF rewrites is never refused, "+
		"PostgreSQL wants vm.overcommit_memory=2 so memory runs out as an ENOMEM error in one "+
		"backend instead of an OOM kill that restarts the whole cluster. ")
	if headroom >= need {
		writeMode2(&b, c, swap, limit, headroom, need, needFact)
	} else {
		writeMode1(&b, s, limit, headroom, need, needFact)
	}
	if s.Container {
		b.WriteString("\ncowbell runs in a container: vm.* settings are host-wide and cannot be set " +
			"from a pod spec. Apply the sysctl lines on the node itself: a privileged DaemonSet " +
			"that runs them on each node, or the node pool's sysctl or tuning configuration.")
	}
	a.Text = b.String()
	return a
}

func writeMode2(b *strings.Builder, c facts.Commit, swap, limit, headroom, need int64, needFact string) {
	fmt.Fprintf(b, "One setting for this host: strict mode 2 with vm.overcommit_kbytes=%d "+
		"(usable memory %d kB * 0.8 + 2 GiB). CommitLimit becomes %d kB (%s, with %d kB swap); "+
		"Committed_AS is %d kB, which leaves %d kB (%s) of headroom, enough for Redis's fork "+
		"(%d kB, %s).\n", c.RecommendedKbytes, c.UsableKB, limit, humanKB(limit), swap,
		c.CommittedKB, headroom, humanKB(headroom), need, needFact)
	fmt.Fprintf(b, "Run (the limit first, so mode 2 never applies the default ratio):\n"+
		"  sysctl -w vm.overcommit_kbytes=%d\n  sysctl -w vm.overcommit_memory=2\n"+
		"Persist in %s:\n  vm.overcommit_kbytes = %d\n  vm.overcommit_memory = 2\n",
		c.RecommendedKbytes, sysctlFile, c.RecommendedKbytes)
	fmt.Fprintf(b, "Keep Redis's fork inside the headroom: schedule BGSAVE and AOF rewrites "+
		"away from write peaks, set `repl-diskless-sync yes`, and keep maxmemory at or below "+
		"%d bytes (%s): `CONFIG SET maxmemory %d`.", headroom*1024, humanKB(headroom), headroom*1024)
}

func writeMode1(b *strings.Builder, s facts.Snapshot, limit, headroom, need int64, needFact string) {
	c := s.Commit
	fmt.Fprintf(b, "Strict mode does not fit this host: with vm.overcommit_kbytes=%d CommitLimit "+
		"would be %d kB (%s) and Committed_AS is already %d kB, which leaves %d kB, less than "+
		"Redis's fork may need (%d kB, %s). One setting for this host: keep mode 1 for Redis.\n",
		c.RecommendedKbytes, limit, humanKB(limit), c.CommittedKB, headroom, need, needFact)
	fmt.Fprintf(b, "Run:\n  sysctl -w vm.overcommit_memory=1\nPersist in %s:\n  vm.overcommit_memory = 1\n", sysctlFile)
	b.WriteString("Protect PostgreSQL from the OOM killer instead: move it to a host of its own, or ")
	if pm, ok := postmaster(s); ok {
		fmt.Fprintf(b, "give the postmaster (pid %d, oom_score_adj %d now) oom_score_adj -1000: "+
			"`echo -1000 > /proc/%d/oom_score_adj`, ", pm.PID, pm.OOMScoreAdj, pm.PID)
	} else {
		b.WriteString("give the postmaster oom_score_adj -1000, ")
	}
	b.WriteString("and persist it with OOMScoreAdjust=-1000 in its systemd unit plus " +
		"PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj and PG_OOM_ADJUST_VALUE=0 so backends stay " +
		"killable.")
	if s.Container {
		b.WriteString(" In Kubernetes, give PostgreSQL Guaranteed QoS (the kubelet then sets " +
			"oom_score_adj -997) or a node of its own.")
	}
}

// postmaster returns the PostgreSQL process with the lowest pid: the postmaster starts
// first and forks every other one.
func postmaster(s facts.Snapshot) (facts.Process, bool) {
	var pm facts.Process
	found := false
	for _, p := range s.Processes {
		if p.Name == "postgres" && (!found || p.PID < pm.PID) {
			pm, found = p, true
		}
	}
	return pm, found
}

// humanKB prints a kB figure in GiB or MiB.
func humanKB(kb int64) string {
	switch {
	case kb >= gib || kb <= -gib:
		return strconv.FormatFloat(float64(kb)/gib, 'f', 1, 64) + " GiB"
	default:
		return strconv.FormatFloat(float64(kb)/1024, 'f', 1, 64) + " MiB"
	}
}

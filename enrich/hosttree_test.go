package enrich

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hostSpec describes a host the matrix builds as a /proc and /sys tree: what runs on
// it, where, on which kernel and how much memory it has.
type hostSpec struct {
	mode      int64  // vm.overcommit_memory
	work      string // "redis", "postgres" or "both"
	container bool   // the databases and cowbell run in Kubernetes pods with limits
	kernel    string // release, "6.1.0-21-amd64"
	ramKB     int64
	swapKB    int64
}

func (h hostSpec) String() string {
	where := "bare"
	if h.container {
		where = "pod"
	}
	return fmt.Sprintf("mode%d/%s/%s/%s/%dG", h.mode, h.work, where, h.kernel, h.ramKB>>20)
}

func (h hostSpec) redis() bool    { return h.work != "postgres" }
func (h hostSpec) postgres() bool { return h.work != "redis" }
func (h hostSpec) small() bool    { return h.ramKB < 16<<20 }
func (h hostSpec) leaking() bool  { return strings.HasPrefix(h.kernel, "6.5.") }
func (h hostSpec) cgroupV1() bool { return strings.HasPrefix(h.kernel, "4.") }

// The processes every tree holds, by pid.
const (
	redisPID      = 812
	postmasterPID = 901
)

// redisDataKB is the private writable memory of the tree's Redis: larger than its
// RSS, as with jemalloc.
func (h hostSpec) redisDataKB() int64 {
	if h.small() {
		return 1536 << 10
	}
	return 24 << 20
}

// committedKB is Committed_AS: what runs, with the 6.5 leak many times RAM + swap.
func (h hostSpec) committedKB() int64 {
	if h.leaking() {
		return 5 * (h.ramKB + h.swapKB)
	}
	c := h.ramKB * 45 / 100
	if h.redis() {
		c += h.redisDataKB() / 2
	}
	return c
}

// Paths of the tree's memory cgroups (v2 layout; v1 trees put them under memory/).
const (
	podRedis    = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0aa1.slice/cri-containerd-7f01aa.scope"
	podPostgres = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0bb2.slice/cri-containerd-7f02bb.scope"
	podCowbell  = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0cc3.slice/cri-containerd-7f03cc.scope"
	unitRedis   = "/system.slice/redis-server.service"
	unitPG      = "/system.slice/system-postgresql.slice/postgresql@15-main.service"
	unitCowbell = "/system.slice/cowbell.service"
)

// build writes the host's tree under root.
func (h hostSpec) build(t *testing.T, root string) {
	t.Helper()
	w := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	kb := func(v int64) string { return strconv.FormatInt(v, 10) }
	commitLimit := h.ramKB/2 + h.swapKB
	w("proc/meminfo", strings.Join([]string{
		"MemTotal: " + kb(h.ramKB) + " kB",
		"MemFree: " + kb(h.ramKB/4) + " kB",
		"MemAvailable: " + kb(h.ramKB*6/10) + " kB",
		"Buffers: 1024 kB",
		"Cached: " + kb(h.ramKB/4) + " kB",
		"SwapCached: 0 kB",
		"Shmem: " + kb(h.ramKB/16) + " kB",
		"SReclaimable: 65536 kB",
		"SwapTotal: " + kb(h.swapKB) + " kB",
		"SwapFree: " + kb(h.swapKB) + " kB",
		"CommitLimit: " + kb(commitLimit) + " kB",
		"Committed_AS: " + kb(h.committedKB()) + " kB",
		"HugePages_Total: 0", "HugePages_Free: 0", "Hugepagesize: 2048 kB", "Hugetlb: 0 kB", "",
	}, "\n"))
	for k, v := range map[string]string{
		"overcommit_memory": kb(h.mode), "overcommit_ratio": "50", "overcommit_kbytes": "0",
		"admin_reserve_kbytes": "8192", "min_free_kbytes": "67584", "swappiness": "60",
	} {
		w("proc/sys/vm/"+k, v+"\n")
	}
	w("proc/sys/kernel/osrelease", h.kernel+"\n")
	w("proc/sys/kernel/hostname", "db1\n")
	w("proc/sys/kernel/random/boot_id", "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f\n")
	w("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	thp := "always madvise [never]"
	if h.cgroupV1() {
		thp = "[always] madvise never"
	}
	w("sys/kernel/mm/transparent_hugepage/enabled", thp+"\n")
	w("sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n")

	self, redisCg, pgCg := unitCowbell, unitRedis, unitPG
	if h.container {
		self, redisCg, pgCg = podCowbell, podRedis, podPostgres
	}
	h.cgroup(t, w, "self", self, -1, 64<<20, 0)
	if h.redis() {
		limit, usage := int64(-1), h.redisDataKB()*1024*8/10
		if h.container {
			limit = h.redisDataKB() * 1024 * 5 / 4
			usage = limit * 98 / 100 // the container is at 98% of its limit
		}
		h.process(t, w, redisPID, "redis-server", h.redisDataKB(), h.redisDataKB()*8/10)
		h.cgroup(t, w, strconv.Itoa(redisPID), redisCg, limit, usage, 0)
	}
	if h.postgres() {
		limit, usage := int64(-1), h.ramKB*1024/4
		if h.container {
			limit = h.ramKB * 1024 / 2
			usage = limit * 6 / 10
		}
		for i, pid := range []int{postmasterPID, 955, 956} {
			data := int64(160 << 10)
			if i > 0 {
				data = 24 << 10
			}
			h.process(t, w, pid, "postgres", data, data/2)
			h.cgroup(t, w, strconv.Itoa(pid), pgCg, limit, usage, 0)
		}
	}
}

// process writes /proc/<pid>/{comm,status,oom_score_adj}.
func (h hostSpec) process(t *testing.T, w func(string, string), pid int, comm string, dataKB, rssKB int64) {
	t.Helper()
	dir := "proc/" + strconv.Itoa(pid) + "/"
	w(dir+"comm", comm+"\n")
	w(dir+"oom_score_adj", "0\n")
	w(dir+"status", fmt.Sprintf("Name:\t%s\nPid:\t%d\nVmSize:\t%8d kB\nVmRSS:\t%8d kB\nRssAnon:\t%8d kB\nVmData:\t%8d kB\nVmStk:\t     132 kB\nVmSwap:\t       0 kB\n",
		comm, pid, dataKB*2, rssKB, rssKB, dataKB))
}

// cgroup writes who's /proc/<who>/cgroup and its memory cgroup's files; limit -1
// is none.
func (h hostSpec) cgroup(t *testing.T, w func(string, string), who, path string, limit, usage, oomKill int64) {
	t.Helper()
	n := func(v int64) string { return strconv.FormatInt(v, 10) + "\n" }
	if h.cgroupV1() {
		w("proc/"+who+"/cgroup", "12:memory:"+path+"\n11:pids:"+path+"\n0::/\n")
		dir := "sys/fs/cgroup/memory" + path + "/"
		l := limit
		if l < 0 {
			l = 9223372036854771712
		}
		w(dir+"memory.limit_in_bytes", n(l))
		w(dir+"memory.usage_in_bytes", n(usage))
		w(dir+"memory.max_usage_in_bytes", n(usage))
		w(dir+"memory.failcnt", "0\n")
		w(dir+"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill "+n(oomKill))
		return
	}
	w("proc/"+who+"/cgroup", "0::"+path+"\n")
	dir := "sys/fs/cgroup" + path + "/"
	if limit < 0 {
		w(dir+"memory.max", "max\n")
	} else {
		w(dir+"memory.max", n(limit))
	}
	w(dir+"memory.current", n(usage))
	w(dir+"memory.peak", n(usage))
	w(dir+"memory.swap.max", "max\n")
	w(dir+"memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill "+n(oomKill))
}

// oomKilled bumps the oom_kill counter of who's cgroup, as a kill would.
func (h hostSpec) oomKilled(t *testing.T, root, path string) {
	t.Helper()
	file := filepath.Join(root, "sys/fs/cgroup", path, "memory.events")
	content := "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"
	if h.cgroupV1() {
		file = filepath.Join(root, "sys/fs/cgroup/memory", path, "memory.oom_control")
		content = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"
	}
	require.NoError(t, os.WriteFile(file, []byte(content), 0o644))
}

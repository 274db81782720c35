// Package facts holds what cowbell knows about a host at one moment: the snapshot that
// enrich reads and that rule conditions, advice templates and probes are written over.
//
// It sits below rules (conditions are type-checked against Env at load time) and
// enrich (which fills Snapshot), so neither imports the other.
package facts

import "time"

// Snapshot is the host as read at one moment. Every map is keyed as the kernel names
// things (vm["overcommit_memory"], meminfo["Committed_AS"]). A value that could not be
// read is absent and its failure is listed in Errors: a snapshot never fails whole.
type Snapshot struct {
	Taken     time.Time `json:"taken" expr:"taken"`
	Host      string    `json:"host" expr:"host"`
	MachineID string    `json:"machine_id,omitempty" expr:"machine_id"`
	BootID    string    `json:"boot_id,omitempty" expr:"boot_id"`
	Kernel    Kernel    `json:"kernel" expr:"kernel"`
	// Container says cowbell runs in a container: vm.* are host-wide, so they must be
	// changed on the node (a DaemonSet, the node's tuning), not from a pod spec.
	Container bool `json:"container" expr:"container"`

	// VM holds every numeric file under /proc/sys/vm; VMText the others.
	VM     map[string]int64  `json:"vm" expr:"vm"`
	VMText map[string]string `json:"vm_text,omitempty" expr:"vm_text"`
	// Meminfo holds /proc/meminfo in its own units: kB, or a count for HugePages_*.
	Meminfo map[string]int64 `json:"meminfo" expr:"meminfo"`
	Commit  Commit           `json:"commit" expr:"commit"`
	THP     THP              `json:"thp" expr:"thp"`

	// Cgroup is cowbell's own memory cgroup (in a sidecar: the pod's or container's).
	Cgroup    Cgroup    `json:"cgroup" expr:"cgroup"`
	Processes []Process `json:"processes,omitempty" expr:"processes"`
	// Running says which target processes were found, by configured name
	// ("redis", "postgres").
	Running map[string]bool `json:"running,omitempty" expr:"running"`
	// Totals counts every process of each target and what they commit, beyond the
	// few of each that Processes details (PostgreSQL runs one per connection).
	Totals map[string]ProcessTotal `json:"totals,omitempty" expr:"totals"`

	// Redis holds INFO fields when a Redis address is configured and answered.
	Redis map[string]string `json:"redis,omitempty" expr:"redis"`
	// RedisAddr is the configured address Redis was asked at.
	RedisAddr string `json:"redis_addr,omitempty" expr:"redis_addr"`
	// Postgres holds settings (pg_settings name → setting with unit) when configured.
	Postgres map[string]string `json:"postgres,omitempty" expr:"postgres"`

	Trend Trend `json:"trend" expr:"trend"`
	// Forecast is what the snapshot says of failures still to come (enrich.Forecast).
	Forecast Forecast    `json:"forecast,omitzero" expr:"forecast"`
	Errors   []ReadError `json:"errors,omitempty" expr:"errors"`

	// Recommend is the one overcommit setting this host should have, decided once
	// per snapshot from everything above (see enrich.Recommend): every rule's advice
	// quotes it, so no two incidents on one host recommend different settings.
	Recommend Recommendation `json:"recommend,omitzero" expr:"recommend"`
}

// Kernel is the running kernel's release.
type Kernel struct {
	Release string `json:"release" expr:"release"`
	Major   int    `json:"major" expr:"major"`
	Minor   int    `json:"minor" expr:"minor"`
	// Patch is the third number of the release ("6.5.3" → 3), 0 when it has none.
	// Distribution releases often keep it at 0 ("6.5.0-44-generic") whatever stable
	// fixes they carry.
	Patch int `json:"patch,omitempty" expr:"patch"`
}

// Commit is the commit accounting derived from meminfo and vm. All sizes in kB.
type Commit struct {
	// Mode is vm.overcommit_memory: 0 heuristic, 1 always, 2 strict (never).
	Mode        int64 `json:"mode" expr:"mode"`
	CommittedKB int64 `json:"committed_kb" expr:"committed_kb"` // Committed_AS
	LimitKB     int64 `json:"limit_kb" expr:"limit_kb"`         // CommitLimit as reported
	// Ratio is Committed_AS / CommitLimit; enforced only in mode 2.
	Ratio      float64 `json:"ratio" expr:"ratio"`
	HeadroomKB int64   `json:"headroom_kb" expr:"headroom_kb"` // CommitLimit - Committed_AS
	// Mode2LimitKB is the CommitLimit the kernel's formula gives under mode 2 with the
	// current overcommit_ratio or overcommit_kbytes, hugepages and swap.
	Mode2LimitKB int64 `json:"mode2_limit_kb" expr:"mode2_limit_kb"`
	// HugepagesKB is the memory reserved as static hugepages (outside commit accounting).
	HugepagesKB int64 `json:"hugepages_kb" expr:"hugepages_kb"`
	// UsableKB is MemTotal less static hugepages.
	UsableKB int64 `json:"usable_kb" expr:"usable_kb"`
	// RecommendedKbytes is the strict-mode baseline for this host: 80 % of usable
	// memory plus an allowance for address space reserved and never touched, 2 GiB
	// or a tenth of usable memory, whichever is smaller (so the limit stays under
	// RAM on small hosts). Recommend sizes the limit it advises from it.
	RecommendedKbytes int64 `json:"recommended_kbytes" expr:"recommended_kbytes"`
	// LeakSuspected says Committed_AS shows the Linux 6.5 accounting leak in one
	// reading: a 6.5 kernel with Committed_AS at LeakFactor or more times RAM + swap,
	// which real workloads do not commit.
	LeakSuspected bool `json:"leak_suspected,omitempty" expr:"leak_suspected"`
}

// LeakFactor is how many times RAM + swap Committed_AS must reach on a 6.5 kernel for
// one snapshot to show the accounting leak.
const LeakFactor = 3

// THP is /sys/kernel/mm/transparent_hugepage: the selected value of each file.
type THP struct {
	Enabled string `json:"enabled" expr:"enabled"`
	Defrag  string `json:"defrag" expr:"defrag"`
}

// Cgroup is a memory cgroup's limits and counters, v1 or v2. Byte values; -1 means no
// limit ("max" in v2, the huge sentinel in v1).
type Cgroup struct {
	Version    int    `json:"version" expr:"version"` // 0 when none was found
	Path       string `json:"path,omitempty" expr:"path"`
	LimitBytes int64  `json:"limit_bytes" expr:"limit_bytes"`
	UsageBytes int64  `json:"usage_bytes" expr:"usage_bytes"`
	PeakBytes  int64  `json:"peak_bytes" expr:"peak_bytes"`
	SwapLimit  int64  `json:"swap_limit_bytes" expr:"swap_limit_bytes"`
	// OOM and OOMKill are memory.events' oom and oom_kill (v2) or memory.oom_control's
	// under_oom and oom_kill (v1).
	OOM     int64 `json:"oom" expr:"oom"`
	OOMKill int64 `json:"oom_kill" expr:"oom_kill"`
	Failcnt int64 `json:"failcnt" expr:"failcnt"` // v1 only
	// InactiveFileBytes is page cache on the inactive list (memory.stat), which the
	// kernel reclaims before it OOM-kills in the cgroup.
	InactiveFileBytes int64 `json:"inactive_file_bytes,omitempty" expr:"inactive_file_bytes"`
	// UsageRatio is usage / limit, 0 without a limit.
	UsageRatio float64 `json:"usage_ratio" expr:"usage_ratio"`
}

// Process is a target process found by name.
type Process struct {
	Name      string `json:"name" expr:"name"` // configured name: "redis", "postgres"
	Comm      string `json:"comm" expr:"comm"`
	PID       int    `json:"pid" expr:"pid"`
	VmRSSKB   int64  `json:"vm_rss_kb" expr:"vm_rss_kb"`
	VmSizeKB  int64  `json:"vm_size_kb" expr:"vm_size_kb"`
	RssAnonKB int64  `json:"rss_anon_kb" expr:"rss_anon_kb"`
	VmSwapKB  int64  `json:"vm_swap_kb" expr:"vm_swap_kb"`
	// VmDataKB and VmStkKB are the process's private writable mappings (heap and
	// anonymous mappings; the stack): what the kernel accounts in Committed_AS.
	VmDataKB int64 `json:"vm_data_kb,omitempty" expr:"vm_data_kb"`
	VmStkKB  int64 `json:"vm_stk_kb,omitempty" expr:"vm_stk_kb"`
	// ForkChargeKB is what a fork of this process adds to Committed_AS: dup_mmap
	// accounts every private writable mapping of the parent again for the child,
	// VmData + VmStk, whatever part of it is resident (RSS) or used (Redis's
	// used_memory). Under mode 2 it must fit under CommitLimit.
	ForkChargeKB int64 `json:"fork_charge_kb,omitempty" expr:"fork_charge_kb"`
	// LargestMappingKB is the largest single private writable mapping (from
	// /proc/PID/maps): mode 0 checks each mapping of a fork on its own.
	LargestMappingKB int64 `json:"largest_mapping_kb,omitempty" expr:"largest_mapping_kb"`
	// AccountedKB is the part of ForkChargeKB the kernel does account, and
	// LargestAccountedKB its largest mapping: the mappings flagged "ac" (VM_ACCOUNT)
	// in /proc/PID/smaps. Memory mapped with MAP_NORESERVE while overcommit was 0 or 1
	// is not accounted, and a fork does not charge it: jemalloc maps so, so a Redis
	// started before the host went to mode 2 charges far less than VmData. smaps
	// walks page tables, so it is read only to confirm a refusal the cheap figures
	// forecast; 0 when not read.
	AccountedKB        int64 `json:"accounted_kb,omitempty" expr:"accounted_kb"`
	LargestAccountedKB int64 `json:"largest_accounted_kb,omitempty" expr:"largest_accounted_kb"`
	// SysAdmin says the process holds CAP_SYS_ADMIN (CapEff): strict mode then
	// lets it use admin_reserve_kbytes too.
	SysAdmin    bool   `json:"sys_admin,omitempty" expr:"sys_admin"`
	OOMScoreAdj int    `json:"oom_score_adj" expr:"oom_score_adj"`
	Cgroup      Cgroup `json:"cgroup" expr:"cgroup"`
	// InContainer says the process's memory cgroup is a container's (a kubepods,
	// docker, containerd, crio, libpod or lxc path).
	InContainer bool `json:"in_container,omitempty" expr:"in_container"`
}

// ProcessTotal is every process of one target: how many, and their private writable
// memory (VmData + VmStk) summed, in kB.
type ProcessTotal struct {
	Count    int64 `json:"count" expr:"count"`
	ChargeKB int64 `json:"charge_kb" expr:"charge_kb"`
}

// Trend compares this snapshot with earlier ones taken by the same enricher.
type Trend struct {
	Samples int `json:"samples" expr:"samples"`
	// CommittedGrowthKBPerHour is 0 until the samples span enrich.MinTrendSpan
	// (10 minutes); then it is the least-squares slope of Committed_AS over the
	// samples kept; MemTotalChangedKB how far MemTotal moved over the same span.
	CommittedGrowthKBPerHour float64 `json:"committed_growth_kb_per_hour" expr:"committed_growth_kb_per_hour"`
	SpanSeconds              float64 `json:"span_seconds" expr:"span_seconds"`
	MemTotalChangedKB        int64   `json:"memtotal_changed_kb" expr:"memtotal_changed_kb"`
	// OOMKillDelta is how much the oom_kill counters of the memory cgroups read
	// (cowbell's own and the target processes') rose since the last sample;
	// OOMKills says which cgroups they were, largest rise first.
	OOMKillDelta int64     `json:"oom_kill_delta" expr:"oom_kill_delta"`
	OOMKills     []OOMKill `json:"oom_kills,omitempty" expr:"oom_kills"`
}

// OOMKill is one memory cgroup whose oom_kill counter rose since the last sample.
type OOMKill struct {
	Cgroup Cgroup `json:"cgroup" expr:"cgroup"`
	Delta  int64  `json:"delta" expr:"delta"`
	// Process names who lives there: a target process ("redis-server pid 812"), or
	// "cowbell" for cowbell's own cgroup.
	Process string `json:"process" expr:"process"`
}

// ReadError records one value that could not be read.
type ReadError struct {
	What string `json:"what" expr:"what"` // "meminfo", "cgroup", "redis"
	Err  string `json:"error" expr:"error"`
}

// Env is what a rule's condition, probe and advice template see: the snapshot, the
// incident's captures and labels, the process the incident is about and what enrich
// concludes about it. enrich.NewEnv fills Target and Diag; a probe's Env has neither.
type Env struct {
	Snapshot
	Captures map[string]string `expr:"captures"`
	Labels   map[string]string `expr:"labels"`
	Target   Target            `expr:"target"`
	Diag     Diagnosis         `expr:"diag"`
}

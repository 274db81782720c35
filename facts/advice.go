package facts

// Recommendation is the one overcommit setting a host should have for what runs on
// it, and why. enrich.Recommend decides it from a snapshot; rules quote it.
type Recommendation struct {
	// For names what decided it: "redis", "postgres", "redis+postgres" or "none"
	// (no database found: keep what the host runs).
	For string `json:"for" expr:"for"`
	// Mode is the vm.overcommit_memory the host should run.
	Mode int64 `json:"mode" expr:"mode"`
	// OvercommitKbytes is the vm.overcommit_kbytes of strict mode; 0 for the others.
	OvercommitKbytes int64 `json:"overcommit_kbytes,omitempty" expr:"overcommit_kbytes"`
	// CommitLimitKB is the CommitLimit that gives: overcommit_kbytes + swap. It never
	// exceeds RAM + swap.
	CommitLimitKB int64 `json:"commit_limit_kb,omitempty" expr:"commit_limit_kb"`
	// NeedKB is what strict mode must hold: Committed_AS now plus ForkReserveKB.
	NeedKB int64 `json:"need_kb,omitempty" expr:"need_kb"`
	// ForkReserveKB is the commit charge of the next Redis fork: the largest Redis
	// process's private writable memory (VmData + VmStk).
	ForkReserveKB int64 `json:"fork_reserve_kb,omitempty" expr:"fork_reserve_kb"`
	// Fits says NeedKB fits under CommitLimitKB, so switching to strict mode now
	// refuses nothing that runs.
	Fits bool `json:"fits" expr:"fits"`
	// Change says the host runs another mode, or a limit off by more than a tenth.
	Change bool `json:"change" expr:"change"`
	// Leak says the 6.5 Committed_AS leak was seen: upgrade or reboot first, and do
	// not chase the leak with a higher limit.
	Leak bool `json:"leak" expr:"leak"`
	// OnNode says the setting must be made on the node, not in a container: cowbell
	// or a database runs in one, and vm.* are host-wide.
	OnNode bool `json:"on_node" expr:"on_node"`
	// Reason says why, with this host's numbers.
	Reason string `json:"reason" expr:"reason"`
	// Commands are the sysctl commands to run, one a line; empty when nothing
	// changes.
	Commands string `json:"commands,omitempty" expr:"commands"`
	// Persist is the sysctl.d file that keeps the setting across reboots.
	Persist string `json:"persist,omitempty" expr:"persist"`
	// Text is the whole recommendation as advice quotes it: the setting, why, the
	// commands and the documentation it rests on.
	Text string `json:"text" expr:"text"`
	// Docs are the documents the decision rests on.
	Docs []string `json:"docs" expr:"docs"`
}

// Target is the process an incident is about: the one whose pid the line names, else
// the configured target of the rule's kind found in the process table. For a process
// already gone (an OOM kill's victim), only what the line says and its memory
// cgroup, read again, are known.
type Target struct {
	Process
	// Found says the process, or its memory cgroup, was read.
	Found bool `json:"found" expr:"found"`
	// Via says how it was found: "pid" (the line names it), "process table" (the
	// only or largest process of the rule's kind) or "cgroup" (the memory cgroup a
	// kernel line names; the process is gone).
	Via string `json:"via,omitempty" expr:"via"`
}

// Fork causes, the kernel's reasons a fork fails with ENOMEM (Diagnosis.ForkCause).
const (
	// ForkCommitLimit: mode 2, and the parent's private writable memory did not fit
	// under CommitLimit (mm/util.c __vm_enough_memory, called per mapping by
	// dup_mmap).
	ForkCommitLimit = "commit_limit"
	// ForkHeuristic: mode 0 refused a mapping of the parent as larger than the
	// memory it estimates free (kernels before 5.2), or than RAM + swap (5.2+).
	ForkHeuristic = "heuristic"
	// ForkMemcg: the fork's kernel memory (page tables, task and mm structures) is
	// charged to the parent's memory cgroup, which is at its limit.
	ForkMemcg = "memcg"
	// ForkNotOvercommit: the overcommit policy did not refuse it on this kernel and
	// mode; what is left is a PID namespace whose init has exited (alloc_pid) or a
	// kernel allocation that failed.
	ForkNotOvercommit = "not_overcommit"
)

// Diagnosis is what enrich concludes about an incident on a snapshot: facts derived
// from the line's captures, the target process and the host together.
type Diagnosis struct {
	// Memcg says the incident is about a memory cgroup's limit, not the host's
	// memory: the kernel line names CONSTRAINT_MEMCG or a memory cgroup that ran out,
	// or the target process's cgroup is at its limit or has OOM-killed.
	Memcg bool `json:"memcg" expr:"memcg"`
	// MemcgPath is that cgroup, as the kernel line or /proc/PID/cgroup names it.
	MemcgPath string `json:"memcg_path,omitempty" expr:"memcg_path"`
	// ForkCause is the likely reason a fork of the target failed with ENOMEM on this
	// kernel, mode and snapshot (one of the Fork* constants).
	ForkCause string `json:"fork_cause,omitempty" expr:"fork_cause"`
	// ForkText explains ForkCause with the numbers it rests on.
	ForkText string `json:"fork_text,omitempty" expr:"fork_text"`
}

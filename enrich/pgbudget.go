package enrich

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// Defaults of the settings the budget reads, for servers too old to have them:
// hash tables were held to work_mem itself before hash_mem_multiplier (13), and
// autovacuum_max_workers has defaulted to 3 since it exists.
const (
	defaultHashMemMultiplier = 1.0
	defaultAutovacuumWorkers = 3
)

// postgresForecast is PostgreSQL's commit budget on s: what a full pool commits
// against what CommitLimit leaves it after everything else on the host.
//
//   - The main shared memory (shared_memory_size from 15, else shared_buffers, a
//     lower bound) is a shared anonymous mapping: shmem_zero_setup charges it to
//     Committed_AS once, when the postmaster maps it, not per process. In huge pages
//     (huge_pages_status on, or huge_pages on) it is hugetlb, which commit accounting
//     leaves out.
//   - Each backend commits its private writable memory (measured: the mean VmData +
//     VmStk of the postmaster's children, what fork charged them and what they
//     allocated since) plus what its queries allocate: work_mem per sort or hash
//     node, hash tables up to work_mem × hash_mem_multiplier. A full pool is
//     max_connections backends each running one hash at that size.
//   - Each autovacuum worker holds autovacuum_work_mem (maintenance_work_mem when
//     it is -1) for its dead tuples.
//
// Everything else on the host commits Committed_AS less what PostgreSQL commits now
// (its shared memory and the private memory of all its processes); CommitLimit less
// that, and less the reserves __vm_enough_memory keeps (CommitAllowedKB for the
// postmaster), is what the pool may use.
func postgresForecast(s facts.Snapshot) facts.PostgresForecast {
	var f facts.PostgresForecast
	set := s.Postgres
	if !s.Running["postgres"] || len(set) == 0 || s.Meminfo == nil {
		return f
	}
	conns, err := strconv.ParseInt(set["max_connections"], 10, 64)
	if err != nil {
		return f
	}
	shared, ok := pgSizeKB(set["shared_memory_size"])
	if !ok {
		if shared, ok = pgSizeKB(set["shared_buffers"]); !ok {
			return f
		}
	}
	inHuge := set["huge_pages_status"] == "on" || set["huge_pages_status"] == "" && set["huge_pages"] == "on"
	if inHuge {
		shared = 0
	}
	f.Known, f.SharedKB, f.MaxConnections = true, shared, conns
	f.WorkMemKB, _ = pgSizeKB(set["work_mem"])
	f.HashMemMultiplier = defaultHashMemMultiplier
	if v, err := strconv.ParseFloat(set["hash_mem_multiplier"], 64); err == nil && v > 0 {
		f.HashMemMultiplier = v
	}
	f.AutovacuumWorkers = defaultAutovacuumWorkers
	if v, err := strconv.ParseInt(set["autovacuum_max_workers"], 10, 64); err == nil {
		f.AutovacuumWorkers = v
	}
	if v, ok := pgSizeKB(set["autovacuum_work_mem"]); ok && v > 0 {
		f.MaintenanceKB = v
	} else {
		f.MaintenanceKB, _ = pgSizeKB(set["maintenance_work_mem"])
	}

	var postmaster facts.Process
	var childKB, children int64
	for _, p := range s.Processes {
		if p.Name != "postgres" {
			continue
		}
		if postmaster.PID == 0 || p.PID < postmaster.PID {
			postmaster = p
		}
	}
	for _, p := range s.Processes {
		if p.Name == "postgres" && p.PID != postmaster.PID {
			childKB += p.ForkChargeKB
			children++
		}
	}
	f.BackendKB = postmaster.ForkChargeKB
	if children > 0 {
		f.BackendKB = childKB / children
	}
	tot := s.Totals["postgres"]
	f.Processes, f.PrivateKB = tot.Count, tot.ChargeKB

	hashKB := int64(float64(f.WorkMemKB) * f.HashMemMultiplier)
	f.PoolKB = f.SharedKB + conns*(f.BackendKB+hashKB) + f.AutovacuumWorkers*(f.BackendKB+f.MaintenanceKB)
	c := s.Commit
	f.OthersKB = max(c.CommittedKB-f.SharedKB-f.PrivateKB, 0)
	allowed, admin, user := CommitAllowedKB(s, postmaster.VmSizeKB, postmaster.SysAdmin)
	f.AvailableKB = allowed - f.OthersKB
	f.Refused = c.Mode == 2 && f.PoolKB >= f.AvailableKB

	var b strings.Builder
	fmt.Fprintf(&b, "A full pool of PostgreSQL commits %s: ", human(f.PoolKB))
	if inHuge {
		b.WriteString("its shared memory in huge pages (outside commit accounting), ")
	} else {
		fmt.Fprintf(&b, "%s of shared memory once, ", human(f.SharedKB))
	}
	fmt.Fprintf(&b, "max_connections %d × (%s private per backend, measured, + work_mem %s × hash_mem_multiplier %g), "+
		"and %d autovacuum workers × (%s + %s). ", conns, human(f.BackendKB), human(f.WorkMemKB), f.HashMemMultiplier,
		f.AutovacuumWorkers, human(f.BackendKB), human(f.MaintenanceKB))
	fmt.Fprintf(&b, "CommitLimit %s, less %s admin and %s user reserve, less %s that the rest of the host commits, "+
		"leaves it %s", human(c.LimitKB), human(admin), human(user), human(f.OthersKB), human(f.AvailableKB))
	switch {
	case f.Refused:
		fmt.Fprintf(&b, ": under strict mode the connections past about %d of %d will be refused (\"out of memory\", "+
			"\"could not fork new process for connection\").", fittingConnections(f, hashKB), conns)
	case c.Mode != 2:
		fmt.Fprintf(&b, " (vm.overcommit_memory is %d now, which does not enforce it).", c.Mode)
	default:
		b.WriteString(", so a full pool fits.")
	}
	f.Text = b.String()
	return f
}

// fittingConnections is how many backends fit in AvailableKB, each at its full
// size, once the shared memory and the autovacuum workers are counted.
func fittingConnections(f facts.PostgresForecast, hashKB int64) int64 {
	per := f.BackendKB + hashKB
	if per <= 0 {
		return f.MaxConnections
	}
	left := f.AvailableKB - f.SharedKB - f.AutovacuumWorkers*(f.BackendKB+f.MaintenanceKB)
	return max(min(left/per, f.MaxConnections), 0)
}

// pgSizeKB parses a memory setting as current_setting prints it ("128MB", "4GB",
// "64kB", "8192B") into kB; ok is false for anything else ("-1", "").
func pgSizeKB(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	switch strings.TrimSpace(v[i:]) {
	case "B":
		return n / 1024, true
	case "kB":
		return n, true
	case "MB":
		return n << 10, true
	case "GB":
		return n << 20, true
	case "TB":
		return n << 30, true
	}
	return 0, false
}

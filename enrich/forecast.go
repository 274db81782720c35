package enrich

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// pageKB is the size of a base page: what one write copies at least.
const pageKB = 4

// Forecast computes what s says of failures still to come, all but the commit trend
// (which needs earlier snapshots; see Enricher.Fresh): the next fork and save of each
// Redis and PostgreSQL's full pool under strict overcommit.
func Forecast(s facts.Snapshot) facts.Forecast {
	var f facts.Forecast
	f.Redis = redisForecasts(s)
	for _, r := range f.Redis {
		f.ForkRefused = f.ForkRefused || r.ForkRefused
		f.SaveOOM = f.SaveOOM || r.SaveOOM
	}
	f.Postgres = postgresForecast(s)
	return f
}

// redisForecasts forecasts every Redis of s: each redis-server process, the one whose
// pid the configured address's INFO names joined with that INFO, and the address
// alone when its process is not in the process table. With one process and one
// address whose pids differ (the process table is read in another PID namespace than
// Redis's own), the two are the same Redis.
func redisForecasts(s facts.Snapshot) []facts.RedisForecast {
	var procs []facts.Process
	for _, p := range s.Processes {
		if p.Name == "redis" {
			procs = append(procs, p)
		}
	}
	info := s.Redis
	joined := -1
	if len(info) > 0 {
		pid, _ := strconv.Atoi(info["process_id"])
		for i, p := range procs {
			if p.PID == pid {
				joined = i
			}
		}
		if joined < 0 && len(procs) == 1 {
			joined = 0
		}
	}
	var out []facts.RedisForecast
	for i, p := range procs {
		var in map[string]string
		if i == joined {
			in = info
		}
		out = append(out, redisForecast(s, &p, in))
	}
	if len(info) > 0 && joined < 0 {
		out = append(out, redisForecast(s, nil, info))
	}
	return out
}

// redisForecast forecasts one Redis: p is its process (nil when not visible), info its
// INFO (nil when no address answers for it).
func redisForecast(s facts.Snapshot, p *facts.Process, info map[string]string) facts.RedisForecast {
	var r facts.RedisForecast
	if info != nil {
		r.Addr = s.RedisAddr
	}
	switch {
	case p != nil && r.Addr != "":
		r.PID = p.PID
		r.Instance = fmt.Sprintf("%s (%s pid %d)", r.Addr, p.Comm, p.PID)
	case p != nil:
		r.PID = p.PID
		r.Instance = fmt.Sprintf("%s pid %d", p.Comm, p.PID)
	default:
		r.Instance = cmpOr(r.Addr, "redis")
	}
	forkForecast(s, p, info, &r)
	cowForecast(s, p, info, &r)
	return r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CommitAllowedKB is how far Committed_AS may go under strict mode before the kernel
// refuses an allocation of a process whose address space is vmSizeKB
// (mm/util.c __vm_enough_memory, OVERCOMMIT_NEVER): CommitLimit, less
// vm.admin_reserve_kbytes for a process without CAP_SYS_ADMIN, less the smaller of
// 1/32 of the process's own address space and vm.user_reserve_kbytes. The check
// passes while Committed_AS, with the new charge added, stays below it.
func CommitAllowedKB(s facts.Snapshot, vmSizeKB int64, sysAdmin bool) (allowedKB, adminKB, userKB int64) {
	if !sysAdmin {
		adminKB = s.VM["admin_reserve_kbytes"]
	}
	userKB = min(vmSizeKB/32, s.VM["user_reserve_kbytes"])
	return s.Commit.LimitKB - adminKB - userKB, adminKB, userKB
}

// forkForecast says whether the next fork of a Redis would be refused by the kernel's
// rule for its mode and version: dup_mmap charges each private writable mapping of
// the parent (VM_ACCOUNT) through __vm_enough_memory, so under mode 2 the whole
// charge must fit below CommitAllowedKB, under mode 0 each mapping below ForkRoom's
// bound, and mode 1 refuses nothing.
func forkForecast(s facts.Snapshot, p *facts.Process, info map[string]string, r *facts.RedisForecast) {
	c := s.Commit
	var vmSize int64
	var sysAdmin bool
	switch {
	case p != nil && p.AccountedKB > 0:
		r.ForkChargeKB, r.ChargeFrom = p.AccountedKB, "smaps"
		r.UnaccountedKB = max(p.ForkChargeKB-p.AccountedKB, 0)
		r.LargestMappingKB = p.LargestAccountedKB
		vmSize, sysAdmin = p.VmSizeKB, p.SysAdmin
	case p != nil:
		r.ForkChargeKB, r.ChargeFrom = p.ForkChargeKB, "proc"
		r.LargestMappingKB = p.LargestMappingKB
		vmSize, sysAdmin = p.VmSizeKB, p.SysAdmin
	default:
		if b, err := strconv.ParseInt(info["used_memory_rss"], 10, 64); err == nil {
			r.ForkChargeKB = b / 1024
		}
		r.ChargeFrom = "info"
		vmSize = r.ForkChargeKB
	}
	charge := human(r.ForkChargeKB) + " of commit (its private writable memory, VmData + VmStk)"
	switch {
	case r.ChargeFrom == "info":
		charge = "at least " + human(r.ForkChargeKB) + " of commit (used_memory_rss: its process is not visible here, so VmData + VmStk, which the fork charges, is not known)"
	case r.ChargeFrom == "smaps" && r.UnaccountedKB > 0:
		charge = human(r.ForkChargeKB) + " of commit (the mappings the kernel accounts, VmFlags ac in smaps; the other " +
			human(r.UnaccountedKB) + " of its private writable memory was mapped MAP_NORESERVE while overcommit was 0 or 1 " +
			"and is not charged, until Redis restarts under mode 2 and its fork charges all " + human(p.ForkChargeKB) + ")"
	case r.ChargeFrom == "smaps":
		charge = human(r.ForkChargeKB) + " of commit (its private writable memory, all of it accounted: VmFlags ac in smaps)"
	}
	if s.VM == nil || s.Meminfo == nil {
		r.ForkRoomKB = -1
		return
	}
	switch c.Mode {
	case 1:
		r.ForkRoomKB = -1
		r.ForkText = fmt.Sprintf("The next fork of %s charges %s; vm.overcommit_memory=1 refuses nothing.", r.Instance, charge)
	case 2:
		allowed, admin, user := CommitAllowedKB(s, vmSize, sysAdmin)
		r.ForkRoomKB = allowed - c.CommittedKB
		r.ForkRefused = r.ForkChargeKB > 0 && r.ForkChargeKB >= r.ForkRoomKB
		verdict := "fits"
		if r.ForkRefused {
			verdict = "will fail"
		}
		r.ForkText = fmt.Sprintf("The next BGSAVE or AOF rewrite of %s %s: its fork needs %s and %s is left "+
			"(CommitLimit %s, less %s admin reserve and %s user reserve, less Committed_AS %s; strict mode 2).",
			r.Instance, verdict, charge, human(r.ForkRoomKB), human(c.LimitKB), human(admin), human(user), human(c.CommittedKB))
	default:
		room, _ := ForkRoom(s)
		r.ForkRoomKB, r.PerMapping = room, true
		rule := "RAM + swap (Linux 5.2 and later)"
		if kernelBefore(s.Kernel, 5, 2) {
			rule = "the memory mode 0 counts as free (before Linux 5.2: free, page cache less shared memory, free swap, reclaimable slab)"
			r.ForkRefused = r.LargestMappingKB > 0 && r.LargestMappingKB >= room
		} else {
			r.ForkRefused = r.LargestMappingKB > room
		}
		largest := "its largest private writable mapping is " + human(r.LargestMappingKB)
		if r.LargestMappingKB == 0 {
			largest = "the sizes of its mappings are not known here"
		}
		verdict := "fits"
		if r.ForkRefused {
			verdict = "will fail"
		}
		r.ForkText = fmt.Sprintf("The next BGSAVE or AOF rewrite of %s %s: mode 0 on Linux %s checks each mapping "+
			"of the fork against %s, %s now; %s (the whole fork charges %s).",
			r.Instance, verdict, releaseOr(s.Kernel), rule, human(room), largest, charge)
	}
}

// cowForecast forecasts the copy-on-write of a Redis's save against the memory it
// can grow into. While no save runs, the next one is expected to copy what the last
// one did (rdb_last_cow_size, aof_last_cow_size: the child's Private_Dirty as Redis
// measured it), else one page per change at the write rate since the last save over
// the last save's duration; while one runs, current_cow_size grows to the end in
// proportion to its progress (current_fork_perc). Neither can exceed the parent's
// anonymous memory, every page of which a save may copy.
func cowForecast(s facts.Snapshot, p *facts.Process, info map[string]string, r *facts.RedisForecast) {
	r.RoomKB, r.RoomFrom = saveRoom(s, p)
	if p != nil {
		r.CowWorstKB = p.RssAnonKB
	}
	if info == nil {
		return
	}
	num := func(k string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSpace(info[k]), 64)
		if err != nil {
			return 0
		}
		return v
	}
	lastKB := int64(max(num("rdb_last_cow_size"), num("aof_last_cow_size")) / 1024)
	lastSec := num("rdb_last_bgsave_time_sec")
	if lastSec < 0 {
		lastSec = num("aof_last_rewrite_time_sec")
	}
	capped := func(kb int64) int64 {
		if r.CowWorstKB > 0 {
			return min(kb, r.CowWorstKB)
		}
		return kb
	}
	var how string
	switch {
	case info["rdb_bgsave_in_progress"] == "1" || info["aof_rewrite_in_progress"] == "1":
		r.Saving, r.SaveKind = true, "BGSAVE"
		elapsed := num("rdb_current_bgsave_time_sec")
		if info["rdb_bgsave_in_progress"] != "1" {
			r.SaveKind, elapsed = "AOF rewrite", num("aof_current_rewrite_time_sec")
		}
		r.CowNowKB = int64(num("current_cow_size") / 1024)
		perc := num("current_fork_perc")
		switch {
		case r.CowNowKB > 0 && perc >= 1 && perc < 100:
			r.CowKB = capped(int64(float64(r.CowNowKB) * 100 / perc))
			how = fmt.Sprintf("it has copied %s at %.1f%% of its keys (current_cow_size, current_fork_perc), "+
				"so about %s by its end", human(r.CowNowKB), perc, human(r.CowKB))
			r.CowFrom = "current_cow_size / current_fork_perc"
		case r.CowNowKB > 0 && elapsed > 0 && lastSec > elapsed:
			r.CowKB = capped(int64(float64(r.CowNowKB) * lastSec / elapsed))
			how = fmt.Sprintf("it has copied %s in %.0f s, and the last save took %.0f s, so about %s by its end",
				human(r.CowNowKB), elapsed, lastSec, human(r.CowKB))
			r.CowFrom = "current_cow_size over the last save's duration"
		default:
			r.CowKB = capped(max(r.CowNowKB, lastKB))
			how = fmt.Sprintf("it has copied %s so far, and the last save copied %s", human(r.CowNowKB), human(lastKB))
			r.CowFrom = "current_cow_size"
		}
		grow := r.CowKB - r.CowNowKB
		r.SaveOOM = grow > 0 && grow > r.RoomKB
		verdict := "is forecast to fit"
		if r.SaveOOM {
			verdict = "is forecast to be OOM-killed before it ends"
		}
		r.CowText = fmt.Sprintf("The %s running on %s %s: %s; %s more must fit in %s (%s).",
			r.SaveKind, r.Instance, verdict, how, human(max(grow, 0)), human(r.RoomKB), r.RoomFrom)
		return
	case lastKB > 0:
		r.CowKB = capped(lastKB)
		r.CowFrom = "last save"
		how = "the last save copied " + human(lastKB) + " (rdb_last_cow_size, aof_last_cow_size)"
	default:
		rate := changeRate(s, info)
		if rate <= 0 || lastSec <= 0 {
			return // no save to learn from, or no writes: nothing to forecast
		}
		r.CowKB = capped(int64(rate * lastSec * pageKB))
		r.CowFrom = "write rate"
		how = fmt.Sprintf("%.0f changes a second since the last save (rdb_changes_since_last_save) over the %.0f s "+
			"the last save took, one %d KiB page each, is %s", rate, lastSec, pageKB, human(r.CowKB))
	}
	r.SaveOOM = r.CowKB > r.RoomKB
	verdict := "fits"
	if r.SaveOOM {
		verdict = "is likely to be OOM-killed"
	}
	r.CowText = fmt.Sprintf("The next save of %s %s: %s of copy-on-write, and %s is left to grow into (%s); "+
		"at worst a save copies all %s of its anonymous memory.",
		r.Instance, verdict, how, human(r.RoomKB), r.RoomFrom, human(r.CowWorstKB))
}

// changeRate is Redis's write rate since its last successful save:
// rdb_changes_since_last_save over the seconds since rdb_last_save_time.
func changeRate(s facts.Snapshot, info map[string]string) float64 {
	changes, err1 := strconv.ParseFloat(info["rdb_changes_since_last_save"], 64)
	at, err2 := strconv.ParseInt(info["rdb_last_save_time"], 10, 64)
	if err1 != nil || err2 != nil || at <= 0 {
		return 0
	}
	secs := float64(s.Taken.Unix() - at)
	if secs <= 0 {
		return 0
	}
	return changes / secs
}

// saveRoom is the memory a save of p can grow into: what p's memory cgroup leaves
// under its limit (the copied pages are charged there, to the writer's cgroup), with
// its inactive page cache, which reclaim gives back first; and never more than the
// host's MemAvailable.
func saveRoom(s facts.Snapshot, p *facts.Process) (int64, string) {
	avail, ok := s.Meminfo["MemAvailable"]
	from := "MemAvailable " + human(avail)
	if p != nil && p.Cgroup.LimitBytes > 0 {
		cg := p.Cgroup
		room := (cg.LimitBytes - cg.UsageBytes + cg.InactiveFileBytes) / 1024
		if !ok || room <= avail {
			return room, fmt.Sprintf("memory cgroup %s: limit %s, usage %s, reclaimable cache %s",
				cg.Path, human(cg.LimitBytes/1024), human(cg.UsageBytes/1024), human(cg.InactiveFileBytes/1024))
		}
	}
	if !ok {
		return 0, "MemAvailable not read"
	}
	return avail, from
}

// commitForecast extrapolates the fitted line of Committed_AS to the point where
// strict mode starts refusing ordinary processes' allocations: CommitLimit less
// vm.admin_reserve_kbytes (CommitAllowedKB without CAP_SYS_ADMIN; the user reserve
// is per process and small). It fires within lead only under mode 2, the one mode
// that enforces the limit.
func commitForecast(s facts.Snapshot, l line, lead time.Duration) facts.CommitForecast {
	f := facts.CommitForecast{SecondsToLimit: -1, LeadSeconds: lead.Seconds(), Samples: s.Trend.Samples,
		SpanSeconds: s.Trend.SpanSeconds}
	if !l.ok || s.Meminfo == nil {
		return f
	}
	f.GrowthKBPerHour, f.FittedKB = l.slopePerHour, int64(l.nowKB)
	f.Samples, f.Outliers = l.samples, l.outliers
	c := s.Commit
	target, admin, _ := CommitAllowedKB(s, 0, false)
	switch {
	case f.FittedKB >= target:
		f.SecondsToLimit = 0
	case f.GrowthKBPerHour > 0:
		f.SecondsToLimit = float64(target-f.FittedKB) / f.GrowthKBPerHour * 3600
	}
	f.WithinLead = c.Mode == 2 && f.SecondsToLimit >= 0 && f.SecondsToLimit <= f.LeadSeconds
	var b strings.Builder
	fmt.Fprintf(&b, "Committed_AS moves %s an hour (least squares over %d samples in %s", signedKB(f.GrowthKBPerHour),
		f.Samples, roundDuration(time.Duration(f.SpanSeconds*float64(time.Second))))
	if f.Outliers > 0 {
		fmt.Fprintf(&b, ", %d one-off spike(s) left out", f.Outliers)
	}
	fmt.Fprintf(&b, ") and stands at %s on that line; strict mode refuses allocations once it reaches CommitLimit "+
		"%s less the %s admin reserve, %s. ", human(f.FittedKB), human(c.LimitKB), human(admin), human(target))
	switch {
	case f.SecondsToLimit == 0:
		b.WriteString("It is there now.")
	case f.SecondsToLimit > 0:
		at := s.Taken.Add(time.Duration(f.SecondsToLimit * float64(time.Second))).Round(time.Minute)
		fmt.Fprintf(&b, "At this rate it gets there in %s, about %s.",
			roundDuration(time.Duration(f.SecondsToLimit*float64(time.Second))), at.UTC().Format("2006-01-02 15:04 UTC"))
	default:
		b.WriteString("It is not climbing.")
	}
	if c.Mode != 2 {
		fmt.Fprintf(&b, " vm.overcommit_memory is %d, which does not enforce the limit.", c.Mode)
	}
	f.Text = b.String()
	return f
}

// signedKB prints a rate in kB with its sign: "+52.0 MiB", "-1.0 GiB".
func signedKB(kb float64) string {
	if kb < 0 {
		return "-" + human(int64(-kb))
	}
	return "+" + human(int64(kb))
}

// roundDuration prints a duration the way a person reads a forecast: "3h20m",
// "6d4h", "45m".
func roundDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	case d >= time.Minute:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}

package enrich

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// WriteTable prints a snapshot as the readable table of `cowbell snapshot`: one
// section per part of the host, every vm and meminfo value, and the failed reads last.
func WriteTable(w io.Writer, s facts.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	t := &table{w: tw}
	t.section("HOST")
	t.row("host", s.Host)
	t.row("taken", s.Taken.Format("2006-01-02 15:04:05 MST"))
	t.row("kernel", s.Kernel.Release)
	t.row("machine id", s.MachineID)
	t.row("boot id", s.BootID)
	t.row("container", strconv.FormatBool(s.Container))

	c := s.Commit
	t.section("COMMIT ACCOUNTING")
	t.row("mode (vm.overcommit_memory)", strconv.FormatInt(c.Mode, 10))
	t.row("Committed_AS", kbCell(c.CommittedKB))
	t.row("CommitLimit", kbCell(c.LimitKB))
	t.row("ratio", pct(c.Ratio))
	t.row("headroom", kbCell(c.HeadroomKB))
	t.row("CommitLimit under mode 2", kbCell(c.Mode2LimitKB))
	t.row("static hugepages", kbCell(c.HugepagesKB))
	t.row("usable (MemTotal - hugepages)", kbCell(c.UsableKB))
	t.row("baseline overcommit_kbytes", kbCell(c.RecommendedKbytes))
	t.row("6.5 leak suspected", strconv.FormatBool(c.LeakSuspected))

	if r := s.Recommend; r.Text != "" {
		t.section("HOST RECOMMENDATION")
		t.row("for", r.For)
		t.row("vm.overcommit_memory", strconv.FormatInt(r.Mode, 10))
		if r.OvercommitKbytes > 0 {
			t.row("vm.overcommit_kbytes", kbCell(r.OvercommitKbytes))
			t.row("CommitLimit then", kbCell(r.CommitLimitKB))
			t.row("needed (committed + next Redis fork)", kbCell(r.NeedKB))
			t.row("fits", strconv.FormatBool(r.Fits))
		}
		t.row("change needed", strconv.FormatBool(r.Change))
		t.row("on the node", strconv.FormatBool(r.OnNode))
		t.row("why", r.Reason)
	}

	t.section("TRANSPARENT HUGEPAGES")
	t.row("enabled", s.THP.Enabled)
	t.row("defrag", s.THP.Defrag)

	t.section("CGROUP of cowbell")
	t.cgroup(s.Cgroup)
	for _, p := range s.Processes {
		t.section(fmt.Sprintf("PROCESS %s (pid %d, %s)", p.Name, p.PID, p.Comm))
		t.row("VmRSS", kbCell(p.VmRSSKB))
		t.row("VmSize", kbCell(p.VmSizeKB))
		t.row("RssAnon", kbCell(p.RssAnonKB))
		t.row("VmSwap", kbCell(p.VmSwapKB))
		t.row("VmData + VmStk (fork charge)", kbCell(p.ForkChargeKB))
		t.row("oom_score_adj", strconv.Itoa(p.OOMScoreAdj))
		t.cgroup(p.Cgroup)
	}
	t.section("RUNNING")
	for _, name := range sortedKeys(s.Running) {
		t.row(name, strconv.FormatBool(s.Running[name]))
	}

	t.section("TREND")
	t.row("samples", strconv.Itoa(s.Trend.Samples))
	t.row("span", strconv.FormatFloat(s.Trend.SpanSeconds, 'f', 0, 64)+" s")
	if s.Trend.SpanSeconds < MinTrendSpan.Seconds() {
		t.row("Committed_AS growth", fmt.Sprintf("not yet: needs %s of samples", MinTrendSpan))
	} else {
		t.row("Committed_AS growth", strconv.FormatFloat(s.Trend.CommittedGrowthKBPerHour, 'f', 1, 64)+" kB/h")
	}
	t.row("MemTotal change", strconv.FormatInt(s.Trend.MemTotalChangedKB, 10)+" kB")
	t.row("oom_kill since last sample", strconv.FormatInt(s.Trend.OOMKillDelta, 10))

	t.section("FORECAST")
	for _, r := range s.Forecast.Redis {
		if r.ForkText != "" {
			t.row("fork of "+r.Instance, r.ForkText)
		}
		if r.CowText != "" {
			t.row("save of "+r.Instance, r.CowText)
		}
	}
	if s.Forecast.Postgres.Known {
		t.row("PostgreSQL pool", s.Forecast.Postgres.Text)
	}
	if s.Forecast.Commit.Text != "" {
		t.row("time to CommitLimit", s.Forecast.Commit.Text)
	} else {
		t.row("time to CommitLimit", fmt.Sprintf("not yet: needs %s of samples", MinTrendSpan))
	}

	t.stringMap("REDIS INFO", s.Redis)
	t.stringMap("POSTGRES SETTINGS", s.Postgres)
	t.section("VM")
	for _, k := range sortedKeys(s.VM) {
		t.row(k, strconv.FormatInt(s.VM[k], 10))
	}
	for _, k := range sortedKeys(s.VMText) {
		t.row(k, s.VMText[k])
	}
	t.section("MEMINFO")
	for _, k := range sortedKeys(s.Meminfo) {
		t.row(k, strconv.FormatInt(s.Meminfo[k], 10))
	}
	if len(s.Errors) > 0 {
		t.section("ERRORS")
		for _, e := range s.Errors {
			t.row(e.What, e.Err)
		}
	}
	if t.err != nil {
		return fmt.Errorf("write snapshot table: %w", t.err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write snapshot table: %w", err)
	}
	return nil
}

// table writes sections of name/value rows, keeping the first write error.
type table struct {
	w   io.Writer
	err error
	n   int
}

func (t *table) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *table) section(title string) {
	if t.n > 0 {
		t.printf("\n")
	}
	t.n++
	t.printf("%s\n", title)
}

// row prints one name and value; values never span lines.
func (t *table) row(name, value string) {
	t.printf("  %s\t%s\n", name, strings.ReplaceAll(value, "\n", " "))
}

func (t *table) cgroup(cg facts.Cgroup) {
	if cg.Version == 0 {
		t.row("cgroup", "none found")
		return
	}
	t.row("cgroup", fmt.Sprintf("v%d %s", cg.Version, cg.Path))
	t.row("limit", bytesCell(cg.LimitBytes))
	t.row("usage", bytesCell(cg.UsageBytes)+" ("+pct(cg.UsageRatio)+" of limit)")
	t.row("peak", bytesCell(cg.PeakBytes))
	t.row("swap limit", bytesCell(cg.SwapLimit))
	t.row("oom / oom_kill", fmt.Sprintf("%d / %d", cg.OOM, cg.OOMKill))
	if cg.Version == 1 {
		t.row("failcnt", strconv.FormatInt(cg.Failcnt, 10))
	}
}

func (t *table) stringMap(title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	t.section(title)
	for _, k := range sortedKeys(m) {
		t.row(k, m[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func kbCell(kb int64) string {
	return strconv.FormatInt(kb, 10) + " kB (" + humanKB(kb) + ")"
}

func bytesCell(b int64) string {
	if b < 0 {
		return "no limit"
	}
	return strconv.FormatInt(b, 10) + " B (" + humanKB(b/1024) + ")"
}

func pct(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 1, 64) + " %"
}

// humanKB prints a kB figure in GiB or MiB, as the table always has.
func humanKB(kb int64) string {
	switch {
	case kb >= gib || kb <= -gib:
		return strconv.FormatFloat(float64(kb)/gib, 'f', 1, 64) + " GiB"
	default:
		return strconv.FormatFloat(float64(kb)/1024, 'f', 1, 64) + " MiB"
	}
}

package slack

import (
	"fmt"
	"strings"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
)

// factsText is the part of the snapshot a memory incident turns on: the overcommit
// policy, commit accounting, what is available, the cgroup and THP.
func factsText(inc *incidents.Incident) string {
	s := inc.Snapshot
	if s == nil {
		return ""
	}
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, "• "+fmt.Sprintf(format, args...)) }
	if mode, ok := s.VM["overcommit_memory"]; ok {
		add("`vm.overcommit_memory = %d` (%s)", mode, overcommitMode(mode))
	}
	if c := s.Commit; c.LimitKB > 0 {
		add("Committed_AS %s of CommitLimit %s (%s)%s", kb(c.CommittedKB), kb(c.LimitKB), pct(c.Ratio), enforced(c.Mode))
	}
	if avail, ok := s.Meminfo["MemAvailable"]; ok {
		if total, ok := s.Meminfo["MemTotal"]; ok && total > 0 {
			add("MemAvailable %s of MemTotal %s", kb(avail), kb(total))
		} else {
			add("MemAvailable %s", kb(avail))
		}
	}
	if cg := s.Cgroup; cg.Version > 0 {
		lines = append(lines, "• "+cgroupText(cg))
	}
	if s.THP.Enabled != "" {
		add("THP enabled: `%s`", esc(s.THP.Enabled))
	}
	if len(s.Errors) > 0 {
		what := make([]string, 0, len(s.Errors))
		for _, e := range s.Errors {
			what = append(what, esc(e.What))
		}
		add("not read: %s", strings.Join(what, ", "))
	}
	if len(lines) == 0 {
		return ""
	}
	head := "*Snapshot*"
	if !s.Taken.IsZero() {
		head += " (" + stamp(s.Taken) + ")"
	}
	return head + "\n" + strings.Join(lines, "\n")
}

func overcommitMode(m int64) string {
	switch m {
	case 0:
		return "heuristic"
	case 1:
		return "always overcommit"
	case 2:
		return "strict: never overcommit"
	}
	return "unknown mode"
}

// enforced notes that CommitLimit only refuses allocations in strict mode.
func enforced(mode int64) string {
	if mode == 2 {
		return ", enforced"
	}
	return ", not enforced outside mode 2"
}

func cgroupText(cg facts.Cgroup) string {
	s := fmt.Sprintf("cgroup v%d memory %s", cg.Version, bytes(cg.UsageBytes))
	if cg.LimitBytes >= 0 {
		s += fmt.Sprintf(" of %s limit (%s)", bytes(cg.LimitBytes), pct(cg.UsageRatio))
	} else {
		s += ", no limit"
	}
	if cg.OOMKill > 0 {
		s += fmt.Sprintf(", %s", plural(int(cg.OOMKill), "OOM kill"))
	}
	return s
}

func kb(v int64) string { return bytes(v * 1024) }

// bytes prints a size in binary units with one decimal.
func bytes(v int64) string {
	const unit = 1024
	if v < unit && v > -unit {
		return fmt.Sprintf("%d B", v)
	}
	f, i := float64(v), -1
	for (f >= unit || f <= -unit) && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}

func pct(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }

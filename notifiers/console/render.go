package console

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/termtext"
)

// ANSI styles.
const (
	reset  = "\x1b[0m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
)

// printer writes one incident's text, styled when colour is on.
type printer struct {
	b     *bytes.Buffer
	color bool
}

func (p printer) style(s, text string) string {
	if !p.color {
		return text
	}
	return s + text + reset
}

func (p printer) line(indent int, format string, args ...any) {
	p.b.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(p.b, format, args...)
	p.b.WriteByte('\n')
}

func (p printer) section(name string) { p.line(1, "%s", p.style(bold, name+":")) }

// render writes inc as text. Everything that came from a log line or a label passes
// through clean, so a line cannot move the cursor or recolour the terminal.
func render(b *bytes.Buffer, inc *incidents.Incident, color bool) {
	p := printer{b: b, color: color}
	header(p, inc)
	p.line(1, "key:     %s", clean(inc.Key))
	if inc.Summary != "" {
		p.line(1, "summary: %s", clean(inc.Summary))
	}
	where := "host:    " + clean(inc.Host)
	if inc.Source != "" {
		where += "  source: " + clean(inc.Source)
	}
	if len(inc.Labels) > 0 {
		where += "  labels: " + pairs(inc.Labels)
	}
	p.line(1, "%s", where)
	seen := fmt.Sprintf("seen:    %d hit(s), %s .. %s", inc.Count, stamp(inc.FirstSeen), stamp(inc.LastSeen))
	if inc.Folded > 0 {
		seen += fmt.Sprintf(" (%d folded since the last notification)", inc.Folded)
	}
	p.line(1, "%s", seen)
	if inc.ResolvedAt != nil {
		p.line(1, "resolved at %s", stamp(*inc.ResolvedAt))
	}
	if len(inc.Lines) > 0 {
		p.section("lines")
		for _, l := range inc.Lines {
			p.line(2, "%s %s", p.style(dim, stamp(l.Time)), clean(l.Text))
		}
	}
	if len(inc.Related) > 0 {
		p.section("same process elsewhere")
		for _, r := range inc.Related {
			p.line(2, "%s pid %s: %s %s", clean(r.Rule), clean(r.PID), p.style(dim, stamp(r.Time)), clean(r.Line))
		}
	}
	diagnosis(p, inc)
	if inc.Snapshot != nil {
		snapshot(p, inc.Snapshot)
	}
	if len(inc.Docs) > 0 {
		p.section("docs")
		for _, d := range inc.Docs {
			p.line(2, "%s", clean(d))
		}
	}
	b.WriteByte('\n')
}

func header(p printer, inc *incidents.Incident) {
	sev := strings.ToUpper(inc.Rule.Severity)
	sevStyle := map[string]string{"CRITICAL": red + bold, "WARNING": yellow + bold}[sev]
	if sevStyle == "" {
		sevStyle = cyan
	}
	h := p.style(sevStyle, "["+sev+"]")
	if inc.Status == incidents.StatusResolved {
		h = p.style(green+bold, "RESOLVED") + " " + h
	}
	if inc.Test {
		h = p.style(bold, "TEST") + " " + h
	}
	p.line(0, "%s %s (%s)", h, p.style(bold, clean(inc.Rule.Title)), clean(inc.Rule.ID))
}

func diagnosis(p printer, inc *incidents.Incident) {
	if inc.RootCause != "" {
		p.section("root cause")
		for _, l := range strings.Split(strings.TrimSpace(inc.RootCause), "\n") {
			p.line(2, "%s", clean(l))
		}
	}
	if len(inc.Advice) > 0 {
		p.section("advice")
		for _, a := range inc.Advice {
			p.line(2, "- %s", clean(a.Text))
			if a.When != "" {
				why := "because " + clean(a.When)
				if len(a.Facts) > 0 {
					why += " (" + pairs(a.Facts) + ")"
				}
				p.line(3, "%s", p.style(dim, why))
			}
		}
	}
	if len(inc.DeadEnds) > 0 {
		p.section("dead ends")
		for _, d := range inc.DeadEnds {
			p.line(2, "- %s: %s", clean(d.Action), clean(d.Why))
		}
	}
}

var modeNames = map[int64]string{0: "heuristic", 1: "always overcommit", 2: "strict, never overcommit"}

// snapshot prints the facts a reader needs first; the JSON form carries all of them.
func snapshot(p printer, s *facts.Snapshot) {
	p.section("host memory at " + stamp(s.Taken))
	p.line(2, "vm.overcommit_memory: %d (%s)", s.Commit.Mode, modeNames[s.Commit.Mode])
	if s.Commit.LimitKB > 0 {
		p.line(2, "Committed_AS / CommitLimit: %s / %s (%.0f%%)",
			kb(s.Commit.CommittedKB), kb(s.Commit.LimitKB), 100*s.Commit.Ratio)
	}
	if v, ok := s.Meminfo["MemAvailable"]; ok {
		line := "MemAvailable: " + kb(v)
		if total, ok := s.Meminfo["MemTotal"]; ok {
			line += " of " + kb(total)
		}
		p.line(2, "%s", line)
	}
	if c := s.Cgroup; c.Version > 0 {
		limit := ", no limit"
		if c.LimitBytes >= 0 {
			limit = fmt.Sprintf(" of %s (%.0f%%)", bytesize(c.LimitBytes), 100*c.UsageRatio)
		}
		p.line(2, "cgroup v%d: %s used%s", c.Version, bytesize(c.UsageBytes), limit)
	}
	if s.THP.Enabled != "" {
		p.line(2, "transparent hugepages: enabled=%s defrag=%s", clean(s.THP.Enabled), clean(s.THP.Defrag))
	}
	for _, e := range s.Errors {
		p.line(2, "%s", p.style(yellow, "could not read "+clean(e.What)+": "+clean(e.Err)))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func pairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = clean(k) + "=" + clean(m[k])
	}
	return strings.Join(parts, " ")
}

// kb prints a size the kernel gave in kB.
func kb(v int64) string { return bytesize(v * 1024) }

func bytesize(v int64) string {
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%d B", v)
	}
	f, i := float64(v), -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i])
}

// clean replaces control characters (escape sequences, carriage returns) so text
// from logs prints as text.
func clean(s string) string { return termtext.Clean(s) }

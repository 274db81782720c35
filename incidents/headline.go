package incidents

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// maxDo bounds the action a headline quotes: a lock screen shows about two lines.
const maxDo = 280

// Headline is the incident in one line, as a phone shows it first: what broke, where,
// and then the cause (when another incident about the same process explains it) or the
// one thing to do, in that order. It is the incident's Summary; receivers cut it to
// their vendors' lengths, so what matters most comes first.
//
//	Redis cannot fork for BGSAVE on cache-7 (cache/redis-0/redis). Do: set `vm.overcommit_memory=1` …
//	A PostgreSQL process was killed by SIGKILL (server process, pid 4321) on db-1. Cause: killed by the kernel OOM killer: …
func (inc *Incident) Headline() string {
	var b strings.Builder
	b.WriteString(Reflow(what(inc)))
	if where := where(inc); where != "" {
		b.WriteString(" on " + where)
	}
	if inc.ReadAt != nil && !inc.LastSeen.IsZero() {
		b.WriteString(", at " + inc.LastSeen.UTC().Format("2006-01-02 15:04 UTC") +
			" (read " + ago(inc.ReadAt.Sub(inc.LastSeen)) + " later)")
	}
	b.WriteString(".")
	switch c, do := inc.Cause(), inc.Do(); {
	case c != "":
		b.WriteString(" Cause: " + sentence(c))
	case do != "":
		b.WriteString(" Do: " + sentence(do))
	default: // advice without a command: its first sentence, not called an action
		if s := inc.firstAdvice(); s != "" {
			b.WriteString(" " + sentence(s))
		}
	}
	return b.String()
}

// Title is what a receiver shows first: the Summary (the Headline, set when the
// incident is built) or, for one without it, the rule's title (or id) and the host;
// "[TEST] " before it for a test notification.
func (inc *Incident) Title() string {
	s := inc.Summary
	if s == "" {
		s = inc.Rule.Title
		if s == "" {
			s = inc.Rule.ID
		}
		if inc.Host != "" {
			s += " on " + inc.Host
		}
	}
	if inc.Test {
		s = "[TEST] " + s
	}
	return s
}

// what is the rule's title and the captures that tell the process apart.
func what(inc *Incident) string {
	t := inc.Rule.Title
	if t == "" {
		t = inc.Rule.ID
	}
	var who []string
	for _, k := range []string{rules.CaptureTask, rules.CaptureComm, rules.CaptureProcess} {
		if v := inc.Captures[k]; v != "" {
			who = append(who, v)
			break
		}
	}
	if v := inc.Captures[rules.CapturePID]; v != "" {
		who = append(who, "pid "+v)
	}
	if len(who) > 0 {
		t += " (" + strings.Join(who, ", ") + ")"
	}
	return t
}

// where is the host and, in a container or unit, which one.
func where(inc *Incident) string {
	var parts []string
	for _, k := range []string{sources.LabelNamespace, sources.LabelPod, sources.LabelContainer} {
		if v := inc.Labels[k]; v != "" {
			parts = append(parts, v)
		}
	}
	detail := strings.Join(parts, "/")
	if detail == "" {
		detail = inc.Labels[sources.LabelUnit]
	}
	switch {
	case inc.Host == "":
		return detail
	case detail == "":
		return inc.Host
	}
	return inc.Host + " (" + detail + ")"
}

// Cause is what another incident about the same process says caused this one (the
// first related line whose rule names a cause), or "".
func (inc *Incident) Cause() string {
	for _, r := range inc.Related {
		if c := Reflow(r.Cause); c != "" {
			return c
		}
	}
	return ""
}

// Do is the one thing to do: the first sentence of the advice that quotes a command
// (in backticks) and does not hang on a condition ("If no such line follows, ..."),
// at most maxDo bytes long; "" if no advice does.
func (inc *Incident) Do() string {
	if i, s := inc.doAt(); i >= 0 {
		return cut(s, maxDo)
	}
	return ""
}

// DoIndex is the index of the piece of advice Do quotes, -1 if none: a receiver that
// shows the advice puts that one first.
func (inc *Incident) DoIndex() int {
	i, _ := inc.doAt()
	return i
}

func (inc *Incident) doAt() (int, string) {
	for i, a := range inc.Advice {
		for _, s := range sentences(Reflow(a.Text)) {
			if strings.Contains(s, "`") && !conditional(s) {
				return i, s
			}
		}
	}
	return -1, ""
}

// firstAdvice is the first sentence of the first piece of advice, at most maxDo bytes.
func (inc *Incident) firstAdvice() string {
	for _, a := range inc.Advice {
		if ss := sentences(Reflow(a.Text)); len(ss) > 0 {
			return cut(ss[0], maxDo)
		}
	}
	return ""
}

// conditional reports whether a sentence applies only if something holds.
func conditional(s string) bool {
	for _, w := range []string{"If ", "When ", "Unless ", "Otherwise"} {
		if strings.HasPrefix(s, w) {
			return true
		}
	}
	return false
}

// sentences splits text after each ". " outside backticks (a command's dots are not
// a sentence's end).
func sentences(text string) []string {
	var out []string
	code := false
	start := 0
	for i := 0; i < len(text); i++ {
		switch {
		case text[i] == '`':
			code = !code
		case !code && text[i] == '.' && i+1 < len(text) && text[i+1] == ' ':
			out = append(out, strings.TrimSpace(text[start:i+1]))
			start = i + 2
		}
	}
	if rest := strings.TrimSpace(text[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// sentence ends s with a full stop unless it ends with punctuation already.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	if strings.ContainsRune(".!?…:", r) {
		return s
	}
	return s + "."
}

// cut shortens s to at most limit bytes at a word boundary, marking the cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	i := limit - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	if j := strings.LastIndexByte(s[:i], ' '); j > limit/2 {
		i = j
	}
	s = s[:i]
	if strings.Count(s, "`")%2 == 1 { // do not leave a code span open
		s += "`"
	}
	return s + mark
}

// ago says a delay the way a person reads it: "5 min", "3 h", "6 days".
func ago(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return d.Round(time.Second).String()
	case d < 2*time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days"
}

// Reflow undoes the hard wrapping of text written for a file (a rule's `|` blocks):
// the lines of a paragraph join with spaces, and blank lines stay paragraph breaks,
// so a receiver whose client wraps text itself (Slack, a phone) shows it as prose.
// Lines that start a list item ("- ", "* ", "• ", "1. ") or are indented stay on
// their own line.
func Reflow(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	prevBlank := false
	for i, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			if !prevBlank {
				b.WriteString("\n\n")
			}
			prevBlank = true
			continue
		case i == 0 || prevBlank:
		case listItem(l):
			b.WriteString("\n")
		default:
			b.WriteString(" ")
		}
		prevBlank = false
		if listItem(l) {
			b.WriteString(strings.TrimRight(l, " \t"))
		} else {
			b.WriteString(t)
		}
	}
	return strings.TrimSpace(b.String())
}

func listItem(l string) bool {
	if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
		return true
	}
	for _, p := range []string{"- ", "* ", "• "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	i := 0
	for i < len(l) && l[i] >= '0' && l[i] <= '9' {
		i++
	}
	return i > 0 && strings.HasPrefix(l[i:], ". ")
}

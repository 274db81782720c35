package slack

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks). Lengths are
// counted in bytes, which never undercounts characters.
const (
	maxHeader    = 150
	maxSection   = 3000
	maxField     = 2000
	maxFields    = 10
	maxBlocks    = 50
	maxFallback  = 3000
	maxLinesText = 2500
)

// message is one Slack message: the fallback text (notifications, screen readers)
// and the blocks.
type message struct {
	text   string
	blocks []slack.Block
}

// esc escapes text that cowbell did not write itself (log lines, hosts, labels) or
// that a rule wrote (titles, advice): &, < and > become entities, so no text can
// mention @channel (<!channel>) or forge a link (<https://…|…>).
func esc(s string) string { return slackutilsx.EscapeMessage(s) }

// render lays out an incident as a person paged at 3 a.m. reads it, top down: what
// broke where (the header), what to do first, why in a sentence (and the cause when
// another incident about the same process names it), where and when, the newest lines,
// the rest of the advice and the snapshot facts. Below a divider comes what is one
// click away (Slack folds a long message behind "See more"): the whole root cause, the
// dead ends, the docs, rule and key. Text is never hard-wrapped: Slack wraps it.
func render(inc *incidents.Incident, maxLines int) message {
	blocks := []slack.Block{header(inc)}
	if inc.Test {
		blocks = append(blocks, contextText(":test_tube: *Test notification* sent by `cowbell notify test`: nothing is wrong."))
	}
	advice, rest := inc.Advice, "*What to do*"
	if inc.Status == incidents.StatusResolved {
		blocks = append(blocks, section(resolvedText(inc)))
	} else if i := inc.DoIndex(); i >= 0 {
		// The piece of advice the headline quotes comes first; the rest after.
		if s := adviceText("*Do first:* ", advice[i:i+1]); s != "" {
			blocks = append(blocks, section(s))
		}
		advice = append(slices.Clip(advice[:i]), advice[i+1:]...)
		rest = "*Also*"
	}
	if s := whyText(inc); s != "" {
		blocks = append(blocks, section(s))
	}
	blocks = append(blocks, contextText(whereText(inc)))
	if s := linesText(inc.Lines, maxLines); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := relatedText(inc.Related); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := adviceText(rest, advice); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := factsText(inc); s != "" {
		blocks = append(blocks, section(s))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	if rc := incidents.Reflow(inc.RootCause); rc != "" {
		blocks = append(blocks, section("*Root cause*\n"+esc(rc)))
	}
	if s := deadEndsText(inc.DeadEnds); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := docsText(inc.Docs); s != "" {
		blocks = append(blocks, contextText(s))
	}
	blocks = append(blocks, contextText(fmt.Sprintf("rule `%s` · key `%s`", esc(inc.Rule.ID), esc(inc.Key))))
	return message{text: fallback(inc, ""), blocks: fit(blocks)}
}

// renderRepeat is the thread reply for a repeat of an open incident (or an update
// of its page by another incident about the same process): counts, the newest lines,
// the cause if one is named now, and the facts as they are now.
func renderRepeat(inc *incidents.Incident, maxLines int) message {
	head := fmt.Sprintf(":repeat: *Again*: %s, last at %s.", counts(inc), stamp(inc.LastSeen))
	blocks := []slack.Block{section(testMark(inc) + head)}
	if c := inc.Cause(); c != "" {
		blocks = append(blocks, section("*Cause:* "+esc(c)))
	}
	if s := linesText(inc.Lines, maxLines); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := relatedText(inc.Related); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := factsText(inc); s != "" {
		blocks = append(blocks, section(s))
	}
	return message{text: fallback(inc, "Again: "), blocks: fit(blocks)}
}

// renderResolvedReply is the short thread reply that says the incident is over.
func renderResolvedReply(inc *incidents.Incident, at time.Time) message {
	s := fmt.Sprintf(":white_check_mark: *Resolved* at %s after %s.", stamp(at), counts(inc))
	return message{text: fallback(inc, ""), blocks: []slack.Block{section(testMark(inc) + s)}}
}

// resolvedText says when the incident resolved, in place of what to do.
func resolvedText(inc *incidents.Incident) string {
	if inc.ResolvedAt == nil {
		return ":white_check_mark: *Resolved.*"
	}
	return fmt.Sprintf(":white_check_mark: *Resolved* at %s.", stamp(*inc.ResolvedAt))
}

// whyText is the root cause's first sentence (the rest is below the divider) and the
// cause another incident about the same process names.
func whyText(inc *incidents.Incident) string {
	var parts []string
	if c := inc.Cause(); c != "" {
		parts = append(parts, "*Cause:* "+esc(c))
	}
	if rc := incidents.Reflow(inc.RootCause); rc != "" {
		first, _, _ := strings.Cut(rc, "\n")
		if ss := firstSentence(first); ss != "" {
			parts = append(parts, "*Why:* "+esc(ss))
		}
	}
	return strings.Join(parts, "\n")
}

// firstSentence is text up to its first ". ", at most 300 bytes.
func firstSentence(text string) string {
	if i := strings.Index(text, ". "); i >= 0 {
		text = text[:i+1]
	}
	return notifiers.Truncate(text, 300)
}

// whereText is where and when, on one line: labels, source, counts, times.
func whereText(inc *incidents.Incident) string {
	var parts []string
	var where []string
	for _, k := range []string{sources.LabelNamespace, sources.LabelPod, sources.LabelContainer} {
		if v := inc.Labels[k]; v != "" {
			where = append(where, v)
		}
	}
	if len(where) > 0 {
		parts = append(parts, "`"+esc(strings.Join(where, "/"))+"`")
	}
	if u := inc.Labels[sources.LabelUnit]; u != "" {
		parts = append(parts, "unit `"+esc(u)+"`")
	}
	if inc.Source != "" {
		parts = append(parts, "source `"+esc(inc.Source)+"`")
	}
	parts = append(parts, counts(inc))
	if !inc.FirstSeen.IsZero() {
		parts = append(parts, "first "+stamp(inc.FirstSeen))
	}
	if !inc.LastSeen.IsZero() && !inc.LastSeen.Equal(inc.FirstSeen) {
		parts = append(parts, "last "+stamp(inc.LastSeen))
	}
	if inc.ReadAt != nil {
		parts = append(parts, "read by cowbell "+stamp(*inc.ReadAt)+" (from a backlog)")
	}
	return esc(inc.Host) + " · " + strings.Join(parts, " · ")
}

// relatedText shows the lines of other incidents about the same process.
func relatedText(rel []incidents.Related) string {
	if len(rel) == 0 {
		return ""
	}
	var lines []string
	for _, r := range rel {
		s := esc(strings.ReplaceAll(r.Line, "```", "`\u200b``"))
		if !r.Time.IsZero() {
			s = r.Time.UTC().Format("15:04:05") + " " + s
		}
		lines = append(lines, cutEscaped(s, maxLinesText/len(rel)))
	}
	return fmt.Sprintf("*Same process* (pid %s, also `%s`)\n```\n%s\n```", esc(rel[0].PID), esc(rel[0].Rule), strings.Join(lines, "\n"))
}

func testMark(inc *incidents.Incident) string {
	if inc.Test {
		return "*[TEST]* "
	}
	return ""
}

func header(inc *incidents.Incident) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		cutEscaped(emoji(inc)+" "+esc(title(inc)), maxHeader), true, false))
}

func title(inc *incidents.Incident) string {
	t := inc.Rule.Title
	if t == "" {
		t = inc.Rule.ID
	}
	if inc.Host != "" {
		t += " on " + inc.Host
	}
	if inc.Status == incidents.StatusResolved {
		t = "RESOLVED: " + t
	}
	if inc.Test {
		t = "[TEST] " + t
	}
	return strings.Join(strings.Fields(t), " ")
}

func emoji(inc *incidents.Incident) string {
	if inc.Status == incidents.StatusResolved {
		return ":white_check_mark:"
	}
	switch inc.Rule.Severity {
	case "critical":
		return ":red_circle:"
	case "warning":
		return ":large_orange_circle:"
	case "info":
		return ":large_blue_circle:"
	}
	return ":warning:"
}

// fallback is the message's text, what a phone's notification shows: the incident's
// headline (what broke, where, and the one thing to do or the cause).
func fallback(inc *incidents.Incident, prefix string) string {
	s := inc.Summary
	if s == "" {
		s = title(inc)
	}
	if inc.Status == incidents.StatusResolved {
		s = "RESOLVED: " + s
	}
	if inc.Test {
		s = "[TEST] " + s
	}
	return cutEscaped(esc(prefix+strings.Join(strings.Fields(s), " ")), maxFallback)
}

func counts(inc *incidents.Incident) string {
	s := plural(inc.Count, "hit")
	if inc.Folded > 0 {
		s += fmt.Sprintf(" (%d since the last notice)", inc.Folded)
	}
	return s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// linesText is the newest lines that fit, oldest first, in a code block.
func linesText(lines []incidents.Line, maxLines int) string {
	if len(lines) == 0 {
		return ""
	}
	var kept []string
	size := 0
	for i := len(lines) - 1; i >= 0 && len(kept) < maxLines; i-- {
		l := lines[i]
		s := esc(strings.ReplaceAll(l.Text, "```", "`\u200b``"))
		if !l.Time.IsZero() {
			s = l.Time.UTC().Format("15:04:05") + " " + s
		}
		if size+len(s)+1 > maxLinesText {
			if len(kept) == 0 { // one huge line: show its start
				kept = append(kept, cutEscaped(s, maxLinesText))
			}
			break
		}
		kept = append(kept, s)
		size += len(s) + 1
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	head := "*Log lines*"
	if len(kept) < len(lines) {
		head = fmt.Sprintf("*Log lines* (newest %d of %d)", len(kept), len(lines))
	}
	return head + "\n```\n" + strings.Join(kept, "\n") + "\n```"
}

// adviceText keeps the rule's code formatting (backticks), escaped like any text,
// and says which facts made each piece of advice apply. head starts the text: "*Also*"
// heads a list, "*Do first:* " leads one piece of advice.
func adviceText(head string, advice []incidents.Advice) string {
	var items []string
	for _, a := range advice {
		text := incidents.Reflow(a.Text)
		if text == "" {
			continue
		}
		s := esc(text)
		if len(a.Facts) > 0 {
			keys := make([]string, 0, len(a.Facts))
			for k := range a.Facts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = "`" + esc(k) + " = " + esc(a.Facts[k]) + "`"
			}
			s += "\n_applies because_ " + strings.Join(keys, ", ")
		}
		items = append(items, s)
	}
	switch {
	case len(items) == 0:
		return ""
	case strings.HasSuffix(head, " "): // one piece, inline
		return head + strings.Join(items, "\n")
	}
	return head + "\n• " + strings.Join(items, "\n• ")
}

func deadEndsText(des []incidents.DeadEnd) string {
	var b strings.Builder
	for _, d := range des {
		action, why := strings.TrimSpace(d.Action), strings.TrimSpace(d.Why)
		switch {
		case action != "" && why != "":
			b.WriteString("\n• Don't: " + esc(action) + " — " + esc(why))
		case action != "":
			b.WriteString("\n• Don't: " + esc(action))
		case why != "":
			b.WriteString("\n• Not a fix: " + esc(why))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "*Dead ends*" + b.String()
}

// docsText links the rule's http(s) docs. Anything else (javascript:, relative
// paths) is not a link Slack should render.
func docsText(docs []string) string {
	var links []string
	for _, u := range notifiers.DocLinks(docs) {
		href := strings.ReplaceAll(u.String(), "|", "%7C")
		label := strings.ReplaceAll(notifiers.LinkText(u), "|", "/")
		links = append(links, "<"+esc(href)+"|"+esc(label)+">")
	}
	if len(links) == 0 {
		return ""
	}
	return ":book: " + strings.Join(links, " · ")
}

func mrkdwn(s string) *slack.TextBlockObject {
	// verbatim: Slack must not turn names in log text into mentions or links.
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func section(s string) slack.Block {
	return slack.NewSectionBlock(mrkdwn(cutEscaped(s, maxSection)), nil, nil)
}

func contextText(s string) slack.Block {
	return slack.NewContextBlock("", mrkdwn(cutEscaped(s, maxSection)))
}

// fit keeps a message within the block count: the last block (rule and key) stays.
func fit(blocks []slack.Block) []slack.Block {
	if len(blocks) <= maxBlocks {
		return blocks
	}
	return append(blocks[:maxBlocks-1:maxBlocks-1], blocks[len(blocks)-1])
}

// cutEscaped cuts escaped text to limit bytes without splitting an entity (&amp;)
// or a rune, and closes a code block it cut open.
func cutEscaped(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	const fence = "\n```"
	s = notifiers.Truncate(s, limit-len(fence))
	if i := strings.LastIndexByte(s, '&'); i >= 0 && i > len(s)-len("&amp;")-len(mark) && !strings.Contains(s[i:], ";") {
		s = s[:i] + mark
	}
	if strings.Count(s, "```")%2 == 1 {
		s += fence
	}
	return s
}

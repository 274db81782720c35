package slack

import (
	"fmt"
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

// render lays out an incident as a person paged at 3 a.m. needs it: what, where,
// the lines, why, what to do, what not to do, the facts behind it and the docs.
func render(inc *incidents.Incident, maxLines int) message {
	blocks := []slack.Block{header(inc)}
	if inc.Test {
		blocks = append(blocks, contextText(":test_tube: *Test notification* sent by `cowbell notify test`: nothing is wrong."))
	}
	blocks = append(blocks, overview(inc))
	if s := linesText(inc.Lines, maxLines); s != "" {
		blocks = append(blocks, section(s))
	}
	if rc := strings.TrimSpace(inc.RootCause); rc != "" {
		blocks = append(blocks, section("*Root cause*\n"+esc(rc)))
	}
	if s := adviceText(inc.Advice); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := deadEndsText(inc.DeadEnds); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := factsText(inc); s != "" {
		blocks = append(blocks, section(s))
	}
	if s := docsText(inc.Docs); s != "" {
		blocks = append(blocks, contextText(s))
	}
	blocks = append(blocks, contextText(fmt.Sprintf("rule `%s` · key `%s`", esc(inc.Rule.ID), esc(inc.Key))))
	return message{text: fallback(inc, ""), blocks: fit(blocks)}
}

// renderRepeat is the thread reply for a repeat of an open incident: counts, the
// newest lines and the facts as they are now.
func renderRepeat(inc *incidents.Incident, maxLines int) message {
	head := fmt.Sprintf(":repeat: *Again*: %s, last at %s.", counts(inc), stamp(inc.LastSeen))
	blocks := []slack.Block{section(testMark(inc) + head)}
	if s := linesText(inc.Lines, maxLines); s != "" {
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

func fallback(inc *incidents.Incident, prefix string) string {
	s := prefix + title(inc)
	if inc.Summary != "" {
		s += ": " + inc.Summary
	}
	return cutEscaped(esc(s), maxFallback)
}

// overview is the summary with the facts of place and time as fields.
func overview(inc *incidents.Incident) slack.Block {
	var fields []*slack.TextBlockObject
	add := func(name, value string) {
		if value != "" && len(fields) < maxFields {
			fields = append(fields, mrkdwn(cutEscaped("*"+name+"*\n"+esc(value), maxField)))
		}
	}
	add("Host", inc.Host)
	add("Source", inc.Source)
	var where []string
	for _, k := range []string{sources.LabelNamespace, sources.LabelPod, sources.LabelContainer} {
		if v := inc.Labels[k]; v != "" {
			where = append(where, v)
		}
	}
	add("Namespace/pod/container", strings.Join(where, "/"))
	add("Unit", inc.Labels[sources.LabelUnit])
	add("Count", counts(inc))
	add("First seen", stamp(inc.FirstSeen))
	add("Last seen", stamp(inc.LastSeen))
	if inc.ResolvedAt != nil {
		add("Resolved", stamp(*inc.ResolvedAt))
	}
	summary := inc.Summary
	if summary == "" {
		summary = title(inc)
	}
	return slack.NewSectionBlock(mrkdwn(cutEscaped(esc(summary), maxSection)), fields, nil)
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
// and says which facts made each piece of advice apply.
func adviceText(advice []incidents.Advice) string {
	var b strings.Builder
	for _, a := range advice {
		text := strings.TrimSpace(a.Text)
		if text == "" {
			continue
		}
		b.WriteString("\n• " + esc(text))
		if len(a.Facts) > 0 {
			keys := make([]string, 0, len(a.Facts))
			for k := range a.Facts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				keys[i] = "`" + esc(k) + " = " + esc(a.Facts[k]) + "`"
			}
			b.WriteString("\n    _applies because_ " + strings.Join(keys, ", "))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "*What to do*" + b.String()
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
		label := strings.ReplaceAll(strings.TrimSuffix(u.Host+u.Path, "/"), "|", "/")
		links = append(links, "<"+esc(href)+"|"+esc(notifiers.Truncate(label, 80))+">")
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

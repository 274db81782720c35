package incidents

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
)

// inside reports whether s's bytes lie in chunk's.
func inside(s, chunk string) bool {
	if s == "" {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))     //nolint:gosec // a test comparing addresses
	c := uintptr(unsafe.Pointer(unsafe.StringData(chunk))) //nolint:gosec // a test comparing addresses
	return p >= c && p < c+uintptr(len(chunk))
}

// TestKeptLinesDoNotHoldTheirRead: a line's text may be a substring of its whole read
// (the file source carves a read's lines out of one string). What the tracker keeps of
// a line that hit, its text among the incident's lines, its captures, the key made
// of them, the event's pid, and what the pid join keeps, is its own copy: a kept
// substring would hold the whole read in memory for as long as the incident lives.
func TestKeptLinesDoNotHoldTheirRead(t *testing.T) {
	r := anyRule("redis/oom", `OOM command not allowed pid=(?P<pid>\d+) task=(?P<task>\w+)`)
	r.Key = keyTemplate(t, `{{.Captures.pid}}`)
	follow := anyRule("redis/after", `aftermath of (?P<what>\w+)`)
	follow.Follow = pats(`aftermath of (?P<what>\w+)`)
	resolve := anyRule("redis/ok", `never matches this`)
	resolve.Resolve = pats(`recovered pid=(?P<pid>\d+)`)
	tr := NewTracker(newMatcher(t, r, follow, resolve), Identity{Host: "db-1"}, (&clock{t: t0}).now)
	var join PIDJoin

	texts := []string{
		"1:M OOM command not allowed pid=4242 task=bgsave",
		"1:M OOM command not allowed pid=4242 task=bgsave again",
		"1:M aftermath of bgsave",
		"1:M recovered pid=4242",
	}
	chunk := strings.Repeat("ordinary line\n", 1000) + strings.Join(texts, "\n") + "\n" + strings.Repeat("ordinary line\n", 1000)
	var events []Event
	for _, text := range texts {
		i := strings.Index(chunk, text)
		l := line(chunk[i : i+len(text)])
		require.True(t, inside(l.Text, chunk))
		got := tr.Observe(l)
		join.Note(got)
		events = append(events, got...)
	}
	require.NotEmpty(t, events)
	kept := func(what, s string) {
		t.Helper()
		require.False(t, inside(s, chunk), "%s %q is a substring of the read", what, s)
	}
	check := func(st State) {
		t.Helper()
		kept("key", st.Key)
		for _, l := range st.Lines {
			kept("line", l.Text)
		}
		for k, v := range st.Captures {
			kept("capture "+k, v)
		}
	}
	for _, ev := range events {
		check(ev.State)
		kept("event pid", ev.HitPID)
	}
	for _, st := range tr.States() {
		check(st)
	}
	related := join.Lookup(State{Rule: "other", Key: "k", LastSeen: t0, Captures: map[string]string{rules.CapturePID: "4242"}})
	require.NotEmpty(t, related)
	for _, rel := range related {
		kept("joined line", rel.Line)
		for k, v := range rel.Captures {
			kept("joined capture "+k, v)
		}
	}
}

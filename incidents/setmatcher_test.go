package incidents

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// packLines are the pack's sample logs, line by line: incidents, follow and resolve
// lines, near misses and ordinary traffic.
func packLines(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../rules/testdata/samples/*.log")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestSetMatcherKeepsEvents: a Tracker whose matcher is swapped for one tuned to the
// lines read so far, between two lines, decides every line after it as a Tracker
// that kept its matcher: the same events, in the same order.
func TestSetMatcherKeepsEvents(t *testing.T) {
	rs, err := rules.Builtin()
	require.NoError(t, err)
	m := newMatcher(t, rs...)
	lines := packLines(t)
	clock := func() time.Time { return t0 }
	kept := NewTracker(m, Identity{Host: "h", Node: "n"}, clock)
	swapped := NewTracker(m, Identity{Host: "h", Node: "n"}, clock)
	for _, at := range []int{0, len(lines) / 3, len(lines) - 1} {
		var want, got []Event
		for i, text := range lines {
			if i == at {
				require.NoError(t, swapped.SetMatcher(m.Tune(lines[:at])))
			}
			l := sources.Line{Source: "app", Stream: "app.log", Text: text, Time: t0.Add(time.Duration(i) * time.Second)}
			want = append(want, kept.Observe(l)...)
			got = append(got, swapped.Observe(l)...)
		}
		require.NotEmpty(t, want)
		require.Equal(t, want, got, "swapped before line %d", at)
		kept = NewTracker(m, Identity{Host: "h", Node: "n"}, clock)
		swapped = NewTracker(m, Identity{Host: "h", Node: "n"}, clock)
	}
}

// TestSetMatcherRefusesOtherRules: a matcher over other rules is not taken.
func TestSetMatcherRefusesOtherRules(t *testing.T) {
	a, b := anyRule("a/x", "x"), anyRule("b/y", "y")
	tr := NewTracker(newMatcher(t, a), Identity{Host: "h"}, func() time.Time { return t0 })
	require.ErrorContains(t, tr.SetMatcher(newMatcher(t, b)), `rule 0 is "b/y"`)
	require.ErrorContains(t, tr.SetMatcher(newMatcher(t, a, b)), "2 rules")
	require.NoError(t, tr.SetMatcher(newMatcher(t, a).Tune([]string{"x"})), "the same rules, rebuilt")
}

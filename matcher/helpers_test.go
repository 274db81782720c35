package matcher

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the event time tests count from.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// pats compiles patterns the way the loader does (MustCompile is fine: the input is
// the test's own).
func pats(ps ...string) []rules.Pattern {
	out := make([]rules.Pattern, len(ps))
	for i, p := range ps {
		out[i] = rules.Pattern{Regexp: regexp.MustCompile(p)}
	}
	return out
}

// anyRule is a rule firing on any of ps.
func anyRule(id string, ps ...string) *rules.Rule {
	return &rules.Rule{ID: id, Match: &rules.Match{Any: pats(ps...)}}
}

func line(text string) sources.Line {
	return sources.Line{Source: "redis", Stream: "/var/log/redis.log", Text: text, Time: t0}
}

func newMatcher(t testing.TB, rs ...*rules.Rule) *Matcher {
	t.Helper()
	m, err := New(rs)
	require.NoError(t, err)
	return m
}

// ids lists the rule ids of hits, in order.
func ids(hs []Hit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Rule.ID)
	}
	return out
}

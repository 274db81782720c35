package matcher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

var familyServices = []string{"orders", "payments", "users", "billing", "search", "cart", "auth", "media", "feeds", "chat"}

// serviceRules makes one rule a service of the template, <W> standing for the word.
func serviceRules(template string) []*rules.Rule {
	var rs []*rules.Rule
	for _, w := range familyServices {
		rs = append(rs, anyRule("r-"+w, strings.ReplaceAll(template, "<W>", w)))
	}
	return rs
}

// anchorTexts lists the prefilter's anchors with their entry counts.
func anchorTexts(p *prefilter) map[string]int {
	out := map[string]int{}
	for li, l := range p.lits {
		out[l.text] = len(p.entries[li])
	}
	return out
}

// TestFamilyAnchor: ten rules alike but for a service word, fitted to lines that
// hold the shared part only with numbers the rules turn away, are looked up by the
// shared part and its tail (one anchor, keyed by the services' own literals); their
// hits are the regexps'.
func TestFamilyAnchor(t *testing.T) {
	rs := serviceRules(`WARN <W> cache hit ratio 0\.[0-4][0-9]`)
	var sample []string
	for i := range 2000 {
		sample = append(sample, fmt.Sprintf("WARN %s cache hit ratio 0.%d", familyServices[i%len(familyServices)], 50+i%50))
	}
	m := newMatcher(t, rs...).Tune(sample)
	require.Equal(t, map[string]int{" cache hit ratio 0.": 10}, anchorTexts(m.pre))
	require.NotEmpty(t, m.pre.lits[0].tail, "the tail of the rules' literals")
	require.NotNil(t, m.pre.keyed[0])
	brute := compileBrute(rs)
	for _, text := range []string{
		"WARN cart cache hit ratio 0.42", "WARN cart cache hit ratio 0.87", "WARN carts cache hit ratio 0.42",
		"WARN users cache hit ratio 0.4", "warn users cache hit ratio 0.11", "WARN search cache hit ratio 0.05 WARN auth cache hit ratio 0.99",
	} {
		l := sources.Line{Source: "s", Text: text}
		require.Equal(t, bruteMatch(brute, l), asBrute(m.Match(l, nil)), "%q", text)
	}
}

// TestFamilyStaysApart: when lines hold the shared part often and nothing else all
// the family needs is rare, each rule keeps its own anchor.
func TestFamilyStaysApart(t *testing.T) {
	rs := serviceRules(`ERROR .*connection refused to <W>-[0-9]+:[0-9]+`)
	var sample []string
	for i := range 2000 {
		sample = append(sample, fmt.Sprintf("ERROR dial tcp: connection refused to 10.0.0.%d:5432", i%250))
	}
	m := newMatcher(t, rs...).Tune(sample)
	texts := anchorTexts(m.pre)
	require.Len(t, texts, 10, "%v", texts)
	require.Equal(t, 1, texts["connection refused to orders-"])
}

func TestFamilyAnchorSpan(t *testing.T) {
	lit := func(s string) clause { return clause{{text: s}} }
	anchors := []clause{lit("WARN orders cache hit ratio 0."), lit("WARN cart cache hit ratio 0."), lit("x cache hit ratio 0.")}
	got, ok := familyAnchor(" cache hit", []int32{0, 1, 2}, anchors)
	require.True(t, ok)
	require.Equal(t, literal{text: " cache hit ratio 0."}, got, "widened to the end, not past the words that differ")
	anchors[2] = clause{{text: "x cache hit ratio 0.", tail: "t"}}
	got, _ = familyAnchor(" cache hit", []int32{0, 1, 2}, anchors)
	require.Empty(t, got.tail, "tails differ: none kept")
	anchors[0][0].tail, anchors[1][0].tail = "t", "t"
	got, _ = familyAnchor(" cache hit", []int32{0, 1, 2}, anchors)
	require.Equal(t, "t", got.tail, "the same tail after the same end: kept")
	_, ok = familyAnchor("cache", []int32{0, 0}, anchors)
	require.False(t, ok, "the entries' anchor itself: nothing to gain")
}

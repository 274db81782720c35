package matcher

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/cowbell-sidecar/cowbell/bench/corpus"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// corpusRules are bench/match.sh's n rules: the pack's first patterns, then service
// patterns over 45 service words.
func corpusRules(tb testing.TB, n int) []*rules.Rule {
	tb.Helper()
	set, err := corpus.RuleSet(n)
	if err != nil {
		tb.Fatal(err)
	}
	rs := make([]*rules.Rule, len(set))
	for i, r := range set {
		rs[i] = anyRule(r.ID, r.Pattern)
	}
	return rs
}

// corpusLines returns n ordinary lines of bench/match.sh's corpus (they fire no rule)
// and n incident lines that fire at least one of rs.
func corpusLines(tb testing.TB, rs []*rules.Rule, n int) (miss, hit []string) {
	tb.Helper()
	var res []*regexp.Regexp
	for _, r := range rs {
		res = append(res, r.Match.Any[0].Regexp)
	}
	fires := func(l string) bool {
		for _, re := range res {
			if re.MatchString(l) {
				return true
			}
		}
		return false
	}
	g := corpus.NewGen(1)
	for len(miss) < n {
		miss = append(miss, g.Ordinary())
	}
	for len(hit) < n {
		if l := g.Incident(); fires(l) {
			hit = append(hit, l)
		}
	}
	return miss, hit
}

// corpusSample is what replay fits the matcher to: the first lines of the log.
func corpusSample() []string {
	g := corpus.NewGen(1)
	sample := make([]string, 4096)
	for i := range sample {
		sample[i] = g.Line()
	}
	return sample
}

// BenchmarkMatchCorpus is the Matcher on bench/match.sh's rules and lines, one line
// an op: ordinary lines (which share service words and literals with the rules) and
// incident lines, fitted to the corpus as replay fits it.
func BenchmarkMatchCorpus(b *testing.B) {
	for _, n := range benchSizes {
		rs := corpusRules(b, n)
		m, err := New(rs)
		if err != nil {
			b.Fatal(err)
		}
		m = tuned(m, corpusSample())
		miss, hit := corpusLines(b, rs, 4096)
		for _, set := range []struct {
			name  string
			lines []string
		}{{"miss", miss}, {"hit", hit}} {
			b.Run(fmt.Sprintf("rules=%d/line=%s", n, set.name), func(b *testing.B) {
				lines := make([]sources.Line, len(set.lines))
				size := 0
				for i, t := range set.lines {
					lines[i] = sources.Line{Source: "bench", Text: t, Time: t0}
					size += len(t)
				}
				dst := make([]Hit, 0, 4)
				hits := 0
				b.ReportAllocs()
				b.SetBytes(int64(size / len(lines)))
				i := 0
				for b.Loop() {
					dst = m.Match(lines[i%len(lines)], dst[:0])
					hits += len(dst)
					i++
				}
				if (hits > 0) != (set.name == "hit") {
					b.Fatalf("%d hits on %s lines", hits, set.name)
				}
			})
		}
	}
}

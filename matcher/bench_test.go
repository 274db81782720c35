package matcher

import (
	"fmt"
	"regexp"
	"testing"

	ahocorasick "github.com/petar-dambovaliev/aho-corasick"

	"github.com/cowbell-sidecar/cowbell/sources"
)

var benchSizes = []int{10, 100, 1000}

// benchLines are a line no rule fires on and one that fires the middle rule.
func benchLines(n int) []struct{ name, text string } {
	return []struct{ name, text string }{
		{"miss", missLine},
		{"hit", syntheticMatchLine(n / 2)},
	}
}

// BenchmarkMatch is the prefiltered Matcher; compare with BenchmarkBaselineRegexpLoop.
func BenchmarkMatch(b *testing.B) {
	for _, n := range benchSizes {
		m, err := New(syntheticRules(n))
		if err != nil {
			b.Fatal(err)
		}
		for _, bl := range benchLines(n) {
			b.Run(fmt.Sprintf("rules=%d/line=%s", n, bl.name), func(b *testing.B) {
				l := sources.Line{Source: "redis", Text: bl.text, Time: t0}
				dst := make([]Hit, 0, 4)
				b.ReportAllocs()
				b.SetBytes(int64(len(bl.text)))
				for b.Loop() {
					dst = m.Match(l, dst[:0])
				}
				if want := bl.name == "hit"; (len(dst) == 1) != want {
					b.Fatalf("hits = %d", len(dst))
				}
			})
		}
	}
}

// BenchmarkBaselineRegexpLoop is the naive matcher: every rule's regexp on every line.
func BenchmarkBaselineRegexpLoop(b *testing.B) {
	for _, n := range benchSizes {
		var res []*regexp.Regexp
		for _, r := range syntheticRules(n) {
			for _, p := range r.Match.Any {
				res = append(res, p.Regexp)
			}
		}
		for _, bl := range benchLines(n) {
			b.Run(fmt.Sprintf("rules=%d/line=%s", n, bl.name), func(b *testing.B) {
				hits := 0
				b.ReportAllocs()
				b.SetBytes(int64(len(bl.text)))
				for b.Loop() {
					hits = 0
					for _, re := range res {
						if re.MatchString(bl.text) {
							hits++
						}
					}
				}
				if want := bl.name == "hit"; (hits == 1) != want {
					b.Fatalf("hits = %d", hits)
				}
			})
		}
	}
}

// BenchmarkObserve is the Tracker's per-line cost: matching plus incident bookkeeping
// (the hit line repeats one open incident, folding inside the cooldown).
// BenchmarkAhoCorasickModule scans the same required literals with the aho-corasick
// module: the reason the prefilter carries its own automaton is this allocation count.
func BenchmarkAhoCorasickModule(b *testing.B) {
	for _, n := range benchSizes {
		m, err := New(syntheticRules(n))
		if err != nil {
			b.Fatal(err)
		}
		texts := make([]string, len(m.pre.lits))
		for i, l := range m.pre.lits {
			texts[i] = l.text
		}
		builder := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{
			AsciiCaseInsensitive: true, MatchKind: ahocorasick.StandardMatch, DFA: true,
		})
		ac := builder.Build(texts)
		b.Run(fmt.Sprintf("rules=%d/line=miss", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(missLine)))
			for b.Loop() {
				it := ac.IterOverlapping(missLine)
				for mt := it.Next(); mt != nil; mt = it.Next() {
					b.Fatal("unexpected literal")
				}
			}
		})
	}
}

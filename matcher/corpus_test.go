package matcher

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/bench/corpus"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// tuned is m fitted to sample; the benchmarks call it, so that their file also builds
// against an older Matcher without Tune (as the identity) for benchstat.
func tuned(m *Matcher, sample []string) *Matcher { return m.Tune(sample) }

// corpusAndPack is the benchmark's 1000 rules and the built-in pack: service patterns
// that share literals by the dozen, and the real incident patterns.
func corpusAndPack(tb testing.TB) []*rules.Rule {
	tb.Helper()
	pack, err := rules.Builtin()
	require.NoError(tb, err)
	return append(corpusRules(tb, 1000), pack...)
}

// mutate changes a line the way near misses differ from incidents: a byte changed,
// dropped or doubled, a cut, or the case of a stretch flipped.
func mutate(r *rand.Rand, s string) string {
	if s == "" {
		return s
	}
	i := r.IntN(len(s))
	switch r.IntN(5) {
	case 0:
		return s[:i] + string(rune('0'+r.IntN(75))) + s[i+1:]
	case 1:
		return s[:i] + s[i+1:]
	case 2:
		return s[:i] + s[i:i+1] + s[i:]
	case 3:
		return s[:i]
	default:
		j := min(len(s), i+1+r.IntN(12))
		return s[:i] + strings.ToUpper(s[i:j]) + s[j:]
	}
}

// TestCorpusMatchesRegexp: on the benchmark's rules and the pack, the Matcher fires
// exactly what running every rule's regexps fires, on incident lines, ordinary ones
// and near misses made from both.
func TestCorpusMatchesRegexp(t *testing.T) {
	rs := corpusAndPack(t)
	m, brute := newMatcher(t, rs...), compileBrute(rs)
	tm := m.Tune(corpusSample())
	g, r := corpus.NewGen(11), rand.New(rand.NewPCG(5, 6))
	hits := 0
	for i := range 400 {
		text := g.Incident()
		if i%2 == 1 {
			text = g.Ordinary()
		}
		if i%3 == 0 {
			text = mutate(r, text)
		}
		l := sources.Line{Source: "bench", Text: text}
		want := bruteMatch(brute, l)
		hits += len(want)
		require.Equal(t, want, asBrute(m.Match(l, nil)), "line %q", text)
		require.Equal(t, want, asBrute(tm.Match(l, nil)), "tuned, line %q", text)
	}
	require.Greater(t, hits, 100, "the lines must fire rules for the comparison to mean anything")
}

// FuzzMatchCorpus compares the Matcher with plain regexp evaluation of every rule on
// the benchmark's rules and the pack, from the corpus's lines.
func FuzzMatchCorpus(f *testing.F) {
	rs := corpusAndPack(f)
	m, err := New(rs)
	require.NoError(f, err)
	brute := compileBrute(rs)
	tm := m.Tune(corpusSample())
	g := corpus.NewGen(13)
	for range 20 {
		f.Add(g.Incident())
		f.Add(g.Ordinary())
	}
	f.Fuzz(func(t *testing.T, text string) {
		l := sources.Line{Source: "bench", Text: text}
		want := bruteMatch(brute, l)
		require.Equal(t, want, asBrute(m.Match(l, nil)))
		require.Equal(t, want, asBrute(tm.Match(l, nil)))
	})
}

// TestNewTunedIsNewThenTune: building fitted to a sample gives the prefilter New and
// then Tune give: the same anchors, and the same candidates.
func TestNewTunedIsNewThenTune(t *testing.T) {
	rs, sample := corpusAndPack(t), corpusSample()
	a, err := NewTuned(rs, sample)
	require.NoError(t, err)
	b := newMatcher(t, rs...).Tune(sample)
	require.Equal(t, b.pre.lits, a.pre.lits)
	g := corpus.NewGen(19)
	for range 2000 {
		text := g.Line()
		require.Equal(t, b.pre.candidates(text, nil, nil), a.pre.candidates(text, nil, nil), "line %q", text)
	}
	_, err = NewTuned(append(rs, rs[0]), sample)
	require.ErrorContains(t, err, "duplicate id", "NewTuned checks the rules as New does")
}

package matcher

import (
	"fmt"
	"math/rand/v2"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// bruteHit is what a hit must be, computed without the prefilter.
type bruteHit struct {
	Rule     string
	Captures map[string]string
}

// bruteRule is a rule with its regexps folded as ignore_case says.
type bruteRule struct {
	r                *rules.Rule
	any, all, unless []*regexp.Regexp
}

// compileBrute prepares rules for bruteMatch.
func compileBrute(rs []*rules.Rule) []bruteRule {
	var out []bruteRule
	for _, r := range rs {
		if r.Match == nil {
			continue
		}
		re := func(ps []rules.Pattern) []*regexp.Regexp {
			var out []*regexp.Regexp
			for _, p := range ps {
				if r.Match.IgnoreCase {
					out = append(out, regexp.MustCompile("(?i)"+p.Regexp.String()))
				} else {
					out = append(out, p.Regexp)
				}
			}
			return out
		}
		out = append(out, bruteRule{r, re(r.Match.Any), re(r.Match.All), re(r.Match.Unless)})
	}
	return out
}

// bruteMatch evaluates every rule's regexps on the line, written from docs/rules.md
// independently of the Matcher.
func bruteMatch(rs []bruteRule, l sources.Line) []bruteHit {
	var out []bruteHit
	for _, br := range rs {
		if !bruteSelects(br.r, l) {
			continue
		}
		caps := map[string]string{}
		ok := true
		for _, re := range br.all {
			ok = ok && bruteCaptures(re, l.Text, caps)
		}
		if len(br.any) > 0 {
			anyOK := false
			for _, re := range br.any {
				if bruteCaptures(re, l.Text, caps) {
					anyOK = true
					break
				}
			}
			ok = ok && anyOK
		}
		for _, re := range br.unless {
			ok = ok && !re.MatchString(l.Text)
		}
		if ok {
			if len(caps) == 0 {
				caps = nil
			}
			out = append(out, bruteHit{br.r.ID, caps})
		}
	}
	return out
}

func bruteSelects(r *rules.Rule, l sources.Line) bool {
	ok := len(r.Sources) == 0
	for _, g := range r.Sources {
		m, _ := path.Match(g, l.Source)
		ok = ok || m
	}
	for k, g := range r.Labels {
		m, _ := path.Match(g, l.Labels[k])
		_, present := l.Labels[k]
		ok = ok && present && m
	}
	return ok
}

// bruteCaptures reports whether re matches and adds its named groups not yet seen.
func bruteCaptures(re *regexp.Regexp, text string, caps map[string]string) bool {
	sub := re.FindStringSubmatchIndex(text)
	if sub == nil {
		return false
	}
	for g, name := range re.SubexpNames() {
		if _, seen := caps[name]; name != "" && !seen && sub[2*g] >= 0 {
			caps[name] = text[sub[2*g]:sub[2*g+1]]
		}
	}
	return true
}

func asBrute(hs []Hit) []bruteHit {
	var out []bruteHit
	for _, h := range hs {
		out = append(out, bruteHit{h.Rule.ID, h.Captures})
	}
	return out
}

// Vocabulary for generated patterns and lines: log words, case variants, runes whose
// case folding leaves ASCII (Kelvin sign, long s), accented letters, U+FFFD and
// invalid UTF-8.
var genWords = []string{
	"fork", "Cannot", "allocate", "memory", "Killed", "process", "oom", "OOM", "kill",
	"BGSAVE", "failed", "pid", "Out", "of", "server", "ss", "ks", "\u212a", "\u017f",
	"é", "É", "\uFFFD", "\xff", "4242", "7", ":", "(", ")", "-", "_",
}

// genPattern builds a random pattern over genWords.
func genPattern(r *rand.Rand) string {
	word := func() string {
		w := genWords[r.IntN(len(genWords))]
		if w == "\xff" { // a pattern must be UTF-8; only lines carry invalid bytes
			w = "\uFFFD"
		}
		return regexp.QuoteMeta(w)
	}
	var parts []string
	for range 1 + r.IntN(4) {
		switch r.IntN(10) {
		case 0:
			parts = append(parts, "(?:"+word()+"|"+word()+"|"+word()+")")
		case 1:
			parts = append(parts, "(?:"+word()+" )?")
		case 2:
			parts = append(parts, `(?P<pid>\d+)`)
		case 3:
			parts = append(parts, `[Cc]`+word())
		case 4:
			parts = append(parts, `\s*.*`)
		case 5:
			parts = append(parts, "(?P<w>"+word()+")+")
		case 6:
			parts = append(parts, `\b`+word())
		default:
			parts = append(parts, word())
		}
	}
	p := strings.Join(parts, " ?")
	if r.IntN(4) == 0 {
		p = "(?i)" + p
	}
	return p
}

// genRules builds n random rules using every matching field.
func genRules(r *rand.Rand, n int) []*rules.Rule {
	rs := make([]*rules.Rule, n)
	for i := range rs {
		m := &rules.Match{IgnoreCase: r.IntN(6) == 0}
		ps := make([]string, 1+r.IntN(3))
		for j := range ps {
			ps[j] = genPattern(r)
		}
		if r.IntN(4) == 0 {
			m.All = pats(ps...)
		} else {
			m.Any = pats(ps...)
		}
		if r.IntN(5) == 0 {
			m.Unless = pats(genPattern(r))
		}
		rs[i] = &rules.Rule{ID: fmt.Sprintf("gen/rule-%d", i), Match: m}
		if r.IntN(8) == 0 {
			rs[i].Sources = []string{"redis*"}
		}
	}
	return rs
}

// genLine builds a random line from the vocabulary with random case changes.
func genLine(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		w := genWords[r.IntN(len(genWords))]
		switch r.IntN(4) {
		case 0:
			w = strings.ToUpper(w)
		case 1:
			w = strings.ToLower(w)
		}
		b.WriteString(w)
		b.WriteString([]string{" ", "", ": ", "  "}[r.IntN(4)])
	}
	return b.String()
}

// TestPrefilterNeverDropsAMatch compares prefiltered matching with brute force over
// random rules (both the few-literal path and the automaton) and many random lines.
func TestPrefilterNeverDropsAMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 40, 150} {
		t.Run(fmt.Sprintf("rules=%d", n), func(t *testing.T) {
			for round := range 6 {
				rs := genRules(r, n)
				m, brute := newMatcher(t, rs...), compileBrute(rs)
				sample := make([]string, 50)
				for i := range sample {
					sample[i] = genLine(r)
				}
				tm := m.Tune(sample) // anchors and windows picked by what these lines hold
				hits := 0
				for range 300 {
					l := sources.Line{Source: []string{"redis", "kernel"}[r.IntN(2)], Text: genLine(r)}
					want := bruteMatch(brute, l)
					hits += len(want)
					require.Equal(t, want, asBrute(m.Match(l, nil)), "round %d line %q", round, l.Text)
					require.Equal(t, want, asBrute(tm.Match(l, nil)), "tuned, round %d line %q", round, l.Text)
				}
				t.Logf("round %d: %d hits", round, hits)
			}
		})
	}
}

// fuzzRules is a fixed rule set for FuzzMatch: generated rules and the synthetic ones.
func fuzzRules() []*rules.Rule {
	rs := genRules(rand.New(rand.NewPCG(3, 4)), 120)
	return append(rs, syntheticRules(40)...)
}

func FuzzMatch(f *testing.F) {
	rs := fuzzRules()
	m, err := New(rs)
	require.NoError(f, err)
	brute := compileBrute(rs)
	for _, s := range []string{"", "fork: Cannot allocate memory", "OOM KILLED PROCESS 4242", "\u212aill \xff",
		syntheticMatchLine(5), syntheticMatchLine(6), missLine} {
		f.Add(s, "redis")
	}
	f.Fuzz(func(t *testing.T, text, source string) {
		l := sources.Line{Source: source, Text: text}
		require.Equal(t, bruteMatch(brute, l), asBrute(m.Match(l, nil)))
	})
}

// TestTailedAnchor: fitted to lines that hold a rule's literal but seldom the digits
// after it, the prefilter looks the rule up by the literal and its tail: a near miss
// is no candidate, and an occurrence with the tail counts wherever it is on the line.
func TestTailedAnchor(t *testing.T) {
	m := newMatcher(t, anyRule("lag", `orders-(primary|replica)-[0-9]+ replication lag (?P<ms>[0-9]{4,}) ms`))
	var sample []string
	for i := range 500 {
		sample = append(sample, fmt.Sprintf("INFO orders-primary-%d replication lag %d ms", i%3, i%1000))
	}
	tm := m.Tune(sample)
	require.Len(t, tm.pre.lits, 1)
	anchor := tm.pre.lits[0]
	require.Equal(t, " replication lag ", anchor.text)
	require.NotEmpty(t, anchor.tail, "the digits make it rare")
	for text, want := range map[string][]int32{
		"INFO orders-primary-1 replication lag 250 ms":                                      nil,
		"INFO orders-primary-1 replication lag 2500 ms":                                     {0},
		"orders-replica-2 replication lag 25 ms, orders-primary-1 replication lag 25000 ms": {0},
		"INFO orders-primary-1 replication lag 2500":                                        nil, // " ms" is checked
	} {
		require.Equal(t, want, tm.pre.candidates(text, nil, nil), "%q", text)
	}
	l := line("orders-replica-2 replication lag 25 ms, orders-primary-1 replication lag 25000 ms")
	require.Equal(t, []bruteHit{{"lag", map[string]string{"ms": "25000"}}}, asBrute(tm.Match(l, nil)))

	// Fitted to lines that hold neither, the tailed literal is guessed the rarer.
	other := m.Tune([]string{"nothing alike", "GET /healthz 200"})
	require.Len(t, other.pre.lits, 1)
	require.NotEmpty(t, other.pre.lits[0].tail)
}

// FuzzPatternAndLine: for any pattern Go compiles and any line, the Matcher fires
// the rule exactly when the regexp matches, fitted to the line or not: the clauses,
// tails and anchors derived from an arbitrary pattern never drop a match.
func FuzzPatternAndLine(f *testing.F) {
	for _, s := range [][2]string{
		{`replication lag [0-9]{4,} ms`, "x replication lag 1200 ms"},
		{`ratio 0\.[0-4][0-9]`, "ratio 0.87 ratio 0.42"},
		{`(GET|POST) /api/v[0-9]+/orders/[0-9]+ HTTP/1\.[01]" 5[0-9][0-9]`, `"GET /api/v1/orders/7 HTTP/1.1" 503`},
		{`"status":5\d{2}`, `{"status":5x,"status":502}`},
		{`(?i)Killed process (\d+)`, "KILLED PROCESS 42"},
		{`ab[c-e]{2,3}f`, "abccf abcdef"},
		{`x[^a]y`, "x\xffy"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		re, err := regexp.Compile(pattern)
		if err != nil || len(pattern) > 200 {
			return
		}
		rs := []*rules.Rule{{ID: "f", Match: &rules.Match{Any: []rules.Pattern{{Regexp: re}}}}}
		m, err := New(rs)
		require.NoError(t, err)
		want := re.MatchString(text)
		l := sources.Line{Source: "s", Text: text}
		require.Equal(t, want, len(m.Match(l, nil)) == 1, "untuned")
		require.Equal(t, want, len(m.Tune([]string{text, text + text}).Match(l, nil)) == 1, "fitted to the line")
		require.Equal(t, want, len(m.Tune([]string{"nothing alike"}).Match(l, nil)) == 1, "fitted to other lines")
	})
}

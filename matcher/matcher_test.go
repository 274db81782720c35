package matcher

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestMatch(t *testing.T) {
	fork := "Can't save in background: fork: (?P<error>Cannot allocate memory)"
	tests := []struct {
		name     string
		rule     *rules.Rule
		line     sources.Line
		want     bool
		captures map[string]string
	}{
		{name: "any first pattern", rule: anyRule("r/a", fork, "BGSAVE failed"),
			line: line("1:M 01 Jan # Can't save in background: fork: Cannot allocate memory"), want: true,
			captures: map[string]string{"error": "Cannot allocate memory"}},
		{name: "any second pattern", rule: anyRule("r/a", fork, "BGSAVE failed"),
			line: line("BGSAVE failed because fork failed"), want: true},
		{name: "any none", rule: anyRule("r/a", fork, "BGSAVE failed"),
			line: line("Background saving started by pid 42"), want: false},
		{name: "captures from the first pattern that matched",
			rule: anyRule("r/a", `no (?P<first>match)`, `pid (?P<pid>\d+)`, `(?P<comm>\w+) pid`),
			line: line("redis pid 42"), want: true, captures: map[string]string{"pid": "42"}},
		{name: "capture not taking part is absent", rule: anyRule("r/a", `killed(?: process (?P<pid>\d+))?`),
			line: line("killed"), want: true},
		{name: "all every pattern", rule: &rules.Rule{ID: "r/all", Match: &rules.Match{
			All: pats(`Out of memory: Killed process (?P<pid>\d+)`, `\((?P<comm>[^)]+)\)`)}},
			line: line("Out of memory: Killed process 4242 (redis-server) total-vm:1kB"), want: true,
			captures: map[string]string{"pid": "4242", "comm": "redis-server"}},
		{name: "all one missing", rule: &rules.Rule{ID: "r/all", Match: &rules.Match{
			All: pats(`Out of memory`, `postgres`)}},
			line: line("Out of memory: Killed process 4242 (redis-server)"), want: false},
		{name: "unless vetoes", rule: &rules.Rule{ID: "r/u", Match: &rules.Match{
			Any: pats("overcommit_memory"), Unless: pats("CONFIG SET")}},
			line: line("CONFIG SET overcommit_memory"), want: false},
		{name: "unless not present", rule: &rules.Rule{ID: "r/u", Match: &rules.Match{
			Any: pats("overcommit_memory"), Unless: pats("CONFIG SET")}},
			line: line("WARNING overcommit_memory is set to 0!"), want: true},
		{name: "case sensitive by default", rule: anyRule("r/c", "Out of memory"),
			line: line("OUT OF MEMORY"), want: false},
		{name: "ignore_case folds", rule: &rules.Rule{ID: "r/i", Match: &rules.Match{
			Any: pats("Out of memory"), IgnoreCase: true}},
			line: line("OUT OF MEMORY"), want: true},
		{name: "ignore_case folds unless", rule: &rules.Rule{ID: "r/i", Match: &rules.Match{
			Any: pats("memory"), Unless: pats("config set"), IgnoreCase: true}},
			line: line("CONFIG SET memory"), want: false},
		{name: "inline fold", rule: anyRule("r/i", "(?i)killed process"),
			line: line("KILLED Process 1"), want: true},
		{name: "fold with non-ascii case variant", rule: anyRule("r/k", "(?i)kill"),
			line: line("\u212aILL"), want: true},
		{name: "source glob", rule: &rules.Rule{ID: "r/s", Sources: []string{"k8s-*", "redis"},
			Match: &rules.Match{Any: pats("fork")}},
			line: sources.Line{Source: "k8s-cache", Text: "fork"}, want: true},
		{name: "source glob mismatch", rule: &rules.Rule{ID: "r/s", Sources: []string{"k8s-*"},
			Match: &rules.Match{Any: pats("fork")}},
			line: sources.Line{Source: "kernel", Text: "fork"}, want: false},
		{name: "label glob", rule: &rules.Rule{ID: "r/l", Labels: map[string]string{"container": "redis*"},
			Match: &rules.Match{Any: pats("fork")}},
			line: sources.Line{Text: "fork", Labels: map[string]string{"container": "redis-0"}}, want: true},
		{name: "label glob mismatch", rule: &rules.Rule{ID: "r/l", Labels: map[string]string{"container": "redis*"},
			Match: &rules.Match{Any: pats("fork")}},
			line: sources.Line{Text: "fork", Labels: map[string]string{"container": "postgres"}}, want: false},
		{name: "label missing", rule: &rules.Rule{ID: "r/l", Labels: map[string]string{"container": "*"},
			Match: &rules.Match{Any: pats("fork")}},
			line: sources.Line{Text: "fork"}, want: false},
		{name: "pattern without literal", rule: anyRule("r/n", `^\d+$`),
			line: line("12345"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMatcher(t, tt.rule)
			hs := m.Match(tt.line, nil)
			if !tt.want {
				require.Empty(t, hs)
				return
			}
			require.Len(t, hs, 1)
			require.Same(t, tt.rule, hs[0].Rule)
			require.Equal(t, tt.line, hs[0].Line)
			require.Equal(t, tt.captures, hs[0].Captures)
		})
	}
}

func TestMatchOrderAndDst(t *testing.T) {
	rs := []*rules.Rule{
		anyRule("a/oom", "Out of memory"),
		{ID: "a/probe", Probe: &rules.Probe{}},
		anyRule("b/never", "nothing like this"),
		anyRule("c/killed", `Killed process \d+`),
	}
	m := newMatcher(t, rs...)
	require.Equal(t, rs, m.Rules())
	prev := []Hit{{Rule: rs[2]}}
	got := m.Match(line("Out of memory: Killed process 12 (redis)"), prev)
	require.Equal(t, []string{"b/never", "a/oom", "c/killed"}, ids(got))

	none := m.Match(line("Background saving started"), prev)
	require.Equal(t, prev, none)
}

func TestFollowAndResolve(t *testing.T) {
	r := &rules.Rule{
		ID:      "pg/backend-killed",
		Match:   &rules.Match{Any: pats(`server process \(PID (?P<pid>\d+)\) was terminated by signal 9`)},
		Follow:  pats("terminating any other active server processes"),
		Resolve: pats(`database system is ready to accept connections`, `(?P<what>all server processes terminated)`),
	}
	m := newMatcher(t, r, anyRule("other/rule", "ready"))
	tests := []struct {
		name          string
		text          string
		match, follow []string
		resolve       []string
		captures      map[string]string
	}{
		{name: "match only", text: "server process (PID 77) was terminated by signal 9: Killed",
			match: []string{"pg/backend-killed"}},
		{name: "follow only", text: "LOG: terminating any other active server processes",
			follow: []string{"pg/backend-killed"}},
		{name: "resolve only", text: "LOG: database system is ready to accept connections",
			match: []string{"other/rule"}, resolve: []string{"pg/backend-killed"}},
		{name: "resolve captures", text: "LOG: all server processes terminated; reinitializing",
			resolve: []string{"pg/backend-killed"}, captures: map[string]string{"what": "all server processes terminated"}},
		{name: "nothing", text: "LOG: checkpoint starting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := line(tt.text)
			require.Equal(t, tt.match, ids(m.Match(l, nil)))
			require.Equal(t, tt.follow, ids(m.MatchFollow(l, nil)))
			res := m.MatchResolve(l, nil)
			require.Equal(t, tt.resolve, ids(res))
			if tt.captures != nil {
				require.Equal(t, tt.captures, res[0].Captures)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		rs   []*rules.Rule
		want string
	}{
		{"nil rule", []*rules.Rule{nil}, "rule 0: nil"},
		{"duplicate", []*rules.Rule{anyRule("a/b", "x"), anyRule("a/b", "y")}, `rule "a/b": duplicate id`},
		{"no patterns", []*rules.Rule{{ID: "a/b", Match: &rules.Match{}}}, "no patterns"},
		{"uncompiled", []*rules.Rule{{ID: "a/b", Match: &rules.Match{Any: []rules.Pattern{{}}}}}, "any[0]: pattern not compiled"},
		{"bad source glob", []*rules.Rule{{ID: "a/b", Sources: []string{"["}, Match: &rules.Match{Any: pats("x")}}}, "sources"},
		{"bad label glob", []*rules.Rule{{ID: "a/b", Labels: map[string]string{"pod": "[x"}, Match: &rules.Match{Any: pats("x")}}}, "labels: pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rs)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestMatchNoAllocs holds the hot path to its promise: a line that fires nothing
// allocates nothing, including one that holds a rule's literal but fails its regexp.
func TestMatchNoAllocs(t *testing.T) {
	for _, n := range []int{3, 100, 1000} {
		rs := syntheticRules(n)
		m := newMatcher(t, rs...)
		for _, text := range []string{
			"1:M 01 Jan 2024 00:00:00.000 * Background saving started by pid 42",
			"1:M 01 Jan 2024 00:00:00.000 * " + syntheticMessage(n/2) + " but not quite",
			"",
		} {
			t.Run(fmt.Sprintf("rules=%d/%q", n, text), func(t *testing.T) {
				l := line(text)
				require.Empty(t, m.Match(l, nil))
				require.Empty(t, m.MatchAll(l, nil))
				dst := make([]Hit, 0, 4)
				require.Zero(t, testing.AllocsPerRun(100, func() { dst = m.Match(l, dst[:0]) }))
				require.Zero(t, testing.AllocsPerRun(100, func() { dst = m.MatchFollow(l, dst[:0]) }))
				require.Zero(t, testing.AllocsPerRun(100, func() { dst = m.MatchResolve(l, dst[:0]) }))
				require.Zero(t, testing.AllocsPerRun(100, func() { dst = m.MatchAll(l, dst[:0]) }))
			})
		}
	}
}

// kindHit is a hit as the reference below computes it.
type kindHit struct {
	Rule     string
	Kind     Kind
	Captures map[string]string
}

func asKindHits(hs []Hit) []kindHit {
	var out []kindHit
	for _, h := range hs {
		out = append(out, kindHit{h.Rule.ID, h.Kind, h.Captures})
	}
	return out
}

// oneByOne is MatchAll computed with a Matcher for each rule alone, so that no regexp
// is shared between rules: the match hits in rule order, then follow, then resolve.
func oneByOne(t testing.TB, ms []*Matcher, l sources.Line) []kindHit {
	t.Helper()
	var out []kindHit
	for _, match := range []func(*Matcher, sources.Line, []Hit) []Hit{
		(*Matcher).Match, (*Matcher).MatchFollow, (*Matcher).MatchResolve,
	} {
		for _, m := range ms {
			out = append(out, asKindHits(match(m, l, nil))...)
		}
	}
	return out
}

// sharingRules: four rules holding the same resolve regexps (one with a capture),
// one the same follow and match regexps besides, and one the same regexp folded.
func sharingRules() []*rules.Rule {
	saved := `^\[?(?P<pid>\d+)(?::[MCSX]|\]) .*?Background saving terminated with success`
	plain := `Background saving terminated with success`
	rule := func(id string, match string, follow []string, resolve ...string) *rules.Rule {
		return &rules.Rule{ID: id, Match: &rules.Match{Any: pats(match)}, Follow: pats(follow...), Resolve: pats(resolve...)}
	}
	folded := rule("d/folded", `fork failed`, nil, plain)
	folded.Match.IgnoreCase = true
	rs := []*rules.Rule{
		rule("a/bgsave", `Can't save in background: fork: (?P<error>.+)`, []string{plain}, saved, plain),
		rule("b/oom", `fork: Cannot allocate memory`, nil, plain, saved),
		rule("c/latency", `Background saving terminated with success`, []string{`(?P<pid>\d+):C`}, saved),
		folded,
	}
	// More shared regexps than runMemo has slots, all candidates on one line (they
	// share their literals) and not all matching: "step abc of 12345" resolves the
	// rules holding step [a-z]{3} or of [0-9]{5}.
	for i := 1; i <= 12; i++ {
		step := fmt.Sprintf(`step (?P<step>[a-z]{%d}) `, i)
		of := fmt.Sprintf(`of (?P<of>[0-9]{%d})$`, i)
		rs = append(rs, rule(fmt.Sprintf("e/%d", i), `never`, nil, step, of), rule(fmt.Sprintf("f/%d", i), `never`, nil, of, step))
	}
	return rs
}

// TestSharedRegexps: a regexp several rules hold is compiled once for all of them,
// and MatchAll gives what each rule alone gives, captures included.
func TestSharedRegexps(t *testing.T) {
	rs := sharingRules()
	m := newMatcher(t, rs...)
	a, b, c := m.compiled[0], m.compiled[1], m.compiled[2]
	require.Same(t, a.resolve[0].re, b.resolve[1].re)
	require.Same(t, a.resolve[0].re, c.resolve[0].re)
	require.Same(t, a.resolve[1].re, b.resolve[0].re)
	require.Same(t, a.follow[0].re, c.any[0].re, "the same regexp in match and in follow")
	require.NotSame(t, a.resolve[1].re, m.compiled[3].resolve[0].re, "a folded regexp is another one")
	var ms []*Matcher
	for _, r := range rs {
		ms = append(ms, newMatcher(t, r))
	}
	for _, text := range []string{
		"4242:C 01 Jan 2024 00:00:00.000 * Background saving terminated with success",
		"[4242] 01 Jan 00:00:00 * Background saving terminated with success",
		"Background saving terminated with success",
		"BACKGROUND SAVING TERMINATED WITH SUCCESS",
		"1:M 01 Jan 2024 00:00:00.000 # Can't save in background: fork: Cannot allocate memory",
		"nothing here",
		"step abc of 12345", "step abcdefghijk of 1", "step a of 123456789012", "step of 1",
	} {
		l := line(text)
		got := asKindHits(m.MatchAll(l, nil))
		require.Equal(t, oneByOne(t, ms, l), got, "line %q", text)
	}
	hs := asKindHits(m.MatchAll(line("4242:C 01 Jan 2024 00:00:00.000 * Background saving terminated with success"), nil))
	require.Len(t, hs, 7) // c matches, a and c follow, a b c d resolve
}

// FuzzMatchAllShared compares MatchAll on the built-in pack and sharingRules, whose
// rules hold the same regexps, with each rule's Matcher alone.
func FuzzMatchAllShared(f *testing.F) {
	pack, err := rules.Builtin()
	require.NoError(f, err)
	rs := append(pack, sharingRules()...)
	m, err := New(rs)
	require.NoError(f, err)
	var ms []*Matcher
	for _, r := range rs {
		one, err := New([]*rules.Rule{r})
		require.NoError(f, err)
		ms = append(ms, one)
	}
	for _, r := range pack {
		for _, text := range r.Examples.Match {
			f.Add(text)
		}
	}
	f.Add("4242:C 01 Jan 2024 00:00:00.000 * Background saving terminated with success")
	f.Fuzz(func(t *testing.T, text string) {
		l := sources.Line{Source: "redis", Text: text}
		require.Equal(t, oneByOne(t, ms, l), asKindHits(m.MatchAll(l, nil)))
	})
}

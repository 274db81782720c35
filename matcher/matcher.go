package matcher

import (
	"errors"
	"fmt"
	"path"
	"regexp"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Matcher decides which rules a line fires. It is built once from the loaded rules,
// holds no per-line state and is safe for concurrent use.
//
// A literal prefilter sits in front of the regexps: each pattern is run only on lines
// holding a literal of every clause its matches must satisfy (" HTTP/1.1\" 5" and
// "/orders/" and "GET /api/v"), found by one scan of the line for one anchor clause
// a pattern and strings.Contains for the rest, so a line that matches nothing costs
// one pass over its bytes and allocates nothing, nearly whatever the number of rules.
// Tune fits the choice of anchors to a sample of the logs. Rules alike but for a word
// (one a service) share one anchor and are told apart by a key in one pass of the
// line (keyIndex, families); a literal may carry the byte classes that follow it
// ("lag " and four digits), so that near misses are turned away before any regexp.
type Matcher struct {
	rules     []*rules.Rule
	byID      map[string]*rules.Rule
	compiled  []*compiled
	entryRule []int32 // entry id → index into compiled
	pre       *prefilter
}

// maxEntries bounds the patterns of a rule set: entries are numbered with int32, and
// no real rule set comes near.
const maxEntries = 1 << 24

// Scratch sizes for one line's literal and candidate lists; they live on the caller's
// stack and only a line holding unusually many literals spills to the heap.
const (
	foundScratch = 16
	candScratch  = 64
)

// New compiles rs for matching. Probe rules (Match == nil) are kept for Rules but not
// matched. ignore_case folds every pattern of its rule: match, unless, follow and
// resolve.
func New(rs []*rules.Rule) (*Matcher, error) {
	return build(rs, nil)
}

// NewTuned is New(rs) followed by Tune(sample), at the cost of building one prefilter
// instead of two: for a caller that has its sample before it matches any line (a
// replay reads the first lines in a few milliseconds). A nil sample is New's guess.
func NewTuned(rs []*rules.Rule, sample []string) (*Matcher, error) {
	return build(rs, sample)
}

func build(rs []*rules.Rule, sample []string) (*Matcher, error) {
	m := &Matcher{rules: append([]*rules.Rule(nil), rs...), byID: map[string]*rules.Rule{}}
	b := newPrefilterBuilder()
	var errs []error
	for i, r := range rs {
		if r == nil {
			errs = append(errs, fmt.Errorf("rule %d: nil", i))
			continue
		}
		if _, dup := m.byID[r.ID]; dup {
			errs = append(errs, fmt.Errorf("rule %q: duplicate id", r.ID))
			continue
		}
		m.byID[r.ID] = r
		if r.Match == nil {
			continue
		}
		if len(m.entryRule) >= maxEntries {
			errs = append(errs, fmt.Errorf("rule %q: more than %d patterns in all", r.ID, maxEntries))
			break
		}
		c, err := compile(r, int32(len(m.entryRule)))
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", r.ID, err))
			continue
		}
		for off, p := range c.patterns() {
			id := c.base + int32(off)
			m.entryRule = append(m.entryRule, int32(len(m.compiled)))
			b.add(id, p.re.String())
		}
		m.compiled = append(m.compiled, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build matcher: %w", err)
	}
	m.share()
	if sample == nil {
		m.pre = b.build(nil, nil, nil, nil)
	} else {
		m.pre = b.tuned(sample)
	}
	return m, nil
}

// share numbers the regexps several patterns of the rules are (the same source,
// folded alike) and makes them one, so that a line runs each once (runMemo).
func (m *Matcher) share() {
	type first struct {
		p *pattern
		n int32
	}
	seen := map[string]*first{}
	shared := int32(0)
	for _, c := range m.compiled {
		for _, list := range [...][]pattern{c.any, c.all, c.unless, c.follow, c.resolve} {
			for i := range list {
				p := &list[i]
				f := seen[p.re.String()]
				if f == nil {
					seen[p.re.String()] = &first{p: p, n: -1}
					continue
				}
				if f.n < 0 {
					f.n = shared
					shared++
					f.p.shared = f.n
				}
				p.re, p.shared = f.p.re, f.n
			}
		}
	}
}

// Tune returns a Matcher with the same rules whose prefilter is fitted to lines like
// sample (a few thousand of the lines it is about to match): each pattern is looked up
// by the literals the sample holds least often, and its other literals are checked
// in order of how often the sample fails them. Hits are the same whatever the sample;
// only the time a line takes changes. Without a sample, the literals' lengths stand in
// for their frequencies.
func (m *Matcher) Tune(sample []string) *Matcher {
	t := *m
	t.pre = m.pre.b.tuned(sample)
	return &t
}

// Rules returns the rules the Matcher was built from, probes included, in order.
func (m *Matcher) Rules() []*rules.Rule { return m.rules }

// Match appends to dst a hit for every rule whose match fires on l, in rule order, and
// returns dst unchanged when none does.
func (m *Matcher) Match(l sources.Line, dst []Hit) []Hit {
	var found [foundScratch]int32
	var cand [candScratch]int32
	c := m.pre.candidates(l.Text, found[:0], cand[:0])
	if len(c) == 0 {
		return dst
	}
	var memo runMemo
	return m.eval(l, c, KindMatch, true, &memo, dst)
}

// MatchAll appends to dst every hit of every kind on l, from one prefilter pass: the
// match hits in rule order, then the follow hits, then the resolve hits. It returns dst
// unchanged, without allocating, when l fires nothing.
func (m *Matcher) MatchAll(l sources.Line, dst []Hit) []Hit {
	var found [foundScratch]int32
	var cand [candScratch]int32
	c := m.pre.candidates(l.Text, found[:0], cand[:0])
	if len(c) == 0 {
		return dst
	}
	var memo runMemo
	for _, k := range [...]Kind{KindMatch, KindFollow, KindResolve} {
		dst = m.eval(l, c, k, true, &memo, dst)
	}
	return dst
}

// MatchFollow appends to dst a hit for every rule one of whose follow patterns matches
// l (captures of the first that does).
func (m *Matcher) MatchFollow(l sources.Line, dst []Hit) []Hit {
	var found [foundScratch]int32
	var cand [candScratch]int32
	c := m.pre.candidates(l.Text, found[:0], cand[:0])
	if len(c) == 0 {
		return dst
	}
	var memo runMemo
	return m.eval(l, c, KindFollow, true, &memo, dst)
}

// MatchResolve appends to dst a hit for every rule one of whose resolve patterns
// matches l (captures of the first that does).
func (m *Matcher) MatchResolve(l sources.Line, dst []Hit) []Hit {
	var found [foundScratch]int32
	var cand [candScratch]int32
	c := m.pre.candidates(l.Text, found[:0], cand[:0])
	if len(c) == 0 {
		return dst
	}
	var memo runMemo
	return m.eval(l, c, KindResolve, true, &memo, dst)
}

// eval runs the candidate entries, grouped by rule (entry ids are laid out rule by
// rule, so a sorted list keeps each rule's entries together and hits in rule order).
func (m *Matcher) eval(l sources.Line, cand []int32, k Kind, selectors bool, memo *runMemo, dst []Hit) []Hit {
	for i := 0; i < len(cand); {
		ri := m.entryRule[cand[i]]
		j := i + 1
		for j < len(cand) && m.entryRule[cand[j]] == ri {
			j++
		}
		dst = m.compiled[ri].eval(l, cand[i:j], k, selectors, memo, dst)
		i = j
	}
	return dst
}

// compile checks a rule and compiles its patterns with the rule's case folding.
func compile(r *rules.Rule, base int32) (*compiled, error) {
	c := &compiled{rule: r, base: base}
	fold := r.Match.IgnoreCase
	var err error
	lists := []struct {
		name string
		in   []rules.Pattern
		out  *[]pattern
	}{
		{"match: any", r.Match.Any, &c.any},
		{"match: all", r.Match.All, &c.all},
		{"match: unless", r.Match.Unless, &c.unless},
		{"follow", r.Follow, &c.follow},
		{"resolve", r.Resolve, &c.resolve},
	}
	for _, l := range lists {
		if *l.out, err = compilePatterns(l.name, l.in, fold); err != nil {
			return nil, err
		}
	}
	if len(c.any) == 0 && len(c.all) == 0 {
		return nil, errors.New("match: no patterns in any or all")
	}
	for _, g := range r.Sources {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("sources: %q: %w", g, err)
		}
	}
	for k, g := range r.Labels {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("labels: %s: %q: %w", k, g, err)
		}
	}
	return c, nil
}

// compilePatterns takes the loaded regexps, recompiling them case-folded when the rule
// says ignore_case (a no-op for patterns that already fold).
func compilePatterns(name string, ps []rules.Pattern, fold bool) ([]pattern, error) {
	out := make([]pattern, 0, len(ps))
	for i, p := range ps {
		if p.Regexp == nil {
			return nil, fmt.Errorf("%s[%d]: pattern not compiled", name, i)
		}
		re := p.Regexp
		if fold {
			var err error
			if re, err = regexp.Compile("(?i)" + re.String()); err != nil {
				return nil, fmt.Errorf("%s[%d]: fold case: %w", name, i, err)
			}
		}
		out = append(out, pattern{re: re, shared: -1})
	}
	return out, nil
}

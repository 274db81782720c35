package matcher

import (
	"path"
	"regexp"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// compiled is one rule ready to run. Its patterns are numbered from base, in the
// order any, all, follow, resolve (unless is not prefiltered: it runs only on a line
// the rule already matched).
type compiled struct {
	rule                              *rules.Rule
	any, all, unless, follow, resolve []pattern
	base                              int32
}

// pattern is a compiled regexp and, when other patterns of the rule set are the same
// regexp, its number among those (shared), else -1.
type pattern struct {
	re     *regexp.Regexp
	shared int32
}

// patterns lists the prefiltered patterns in entry order.
func (c *compiled) patterns() []pattern {
	ps := make([]pattern, 0, len(c.any)+len(c.all)+len(c.follow)+len(c.resolve))
	ps = append(ps, c.any...)
	ps = append(ps, c.all...)
	ps = append(ps, c.follow...)
	return append(ps, c.resolve...)
}

func (c *compiled) allBase() int32     { return c.base + int32(len(c.any)) }
func (c *compiled) followBase() int32  { return c.allBase() + int32(len(c.all)) }
func (c *compiled) resolveBase() int32 { return c.followBase() + int32(len(c.follow)) }

// runMemo keeps, for one line, what the shared patterns run on it gave, so that a
// regexp several rules hold (the resolve patterns of the Redis fork rules, "Background
// saving terminated with success", in four of them) runs once a line: slot
// shared%len, valid when id is shared+1.
type runMemo [8]runSlot

type runSlot struct {
	id      int32
	matched bool
	subs    bool  // idx holds the submatches (nil: no match)
	idx     []int // FindStringSubmatchIndex
}

// match reports whether p matches text.
func (m *runMemo) match(p pattern, text string) bool {
	if p.shared < 0 {
		return p.re.MatchString(text)
	}
	slot := &m[p.shared%int32(len(m))]
	if slot.id != p.shared+1 {
		*slot = runSlot{id: p.shared + 1, matched: p.re.MatchString(text)}
	}
	return slot.matched
}

// submatches returns p's FindStringSubmatchIndex on text (which p matches).
func (m *runMemo) submatches(p pattern, text string) []int {
	if p.shared < 0 {
		return p.re.FindStringSubmatchIndex(text)
	}
	slot := &m[p.shared%int32(len(m))]
	if slot.id != p.shared+1 || !slot.subs {
		slot.id, slot.matched = p.shared+1, true
		slot.subs, slot.idx = true, p.re.FindStringSubmatchIndex(text)
	}
	return slot.idx
}

// eval appends the rule's hit on l, if any; seg holds the rule's candidate entries.
func (c *compiled) eval(l sources.Line, seg []int32, k Kind, selectors bool, memo *runMemo, dst []Hit) []Hit {
	switch k {
	case KindFollow:
		return c.first(l, seg, c.follow, c.followBase(), KindFollow, selectors, memo, dst)
	case KindResolve:
		return c.first(l, seg, c.resolve, c.resolveBase(), KindResolve, selectors, memo, dst)
	}
	return c.match(l, seg, selectors, memo, dst)
}

// match applies any (one suffices), all (every one) and unless (none may match).
// Captures come from the first any pattern that matched, merged with those of all.
func (c *compiled) match(l sources.Line, seg []int32, selectors bool, memo *runMemo, dst []Hit) []Hit {
	allBase := c.allBase()
	for j := range c.all {
		if !has(seg, allBase+int32(j)) {
			return dst
		}
	}
	if len(c.any) > 0 && !hasIn(seg, c.base, allBase) {
		return dst
	}
	if selectors && !c.selects(l) {
		return dst
	}
	first := -1
	for i, p := range c.any {
		if has(seg, c.base+int32(i)) && memo.match(p, l.Text) {
			first = i
			break
		}
	}
	if len(c.any) > 0 && first < 0 {
		return dst
	}
	for _, p := range c.all {
		if !memo.match(p, l.Text) {
			return dst
		}
	}
	for _, p := range c.unless {
		if memo.match(p, l.Text) {
			return dst
		}
	}
	var caps map[string]string
	for _, p := range c.all {
		caps = addCaptures(caps, p, l.Text, memo)
	}
	if first >= 0 {
		caps = addCaptures(caps, c.any[first], l.Text, memo)
	}
	return append(dst, Hit{Rule: c.rule, Line: l, Captures: caps})
}

// first appends a hit for the first candidate pattern of pats (numbered from base)
// that matches l.
func (c *compiled) first(l sources.Line, seg []int32, pats []pattern, base int32, k Kind, selectors bool, memo *runMemo, dst []Hit) []Hit {
	if !hasIn(seg, base, base+int32(len(pats))) || selectors && !c.selects(l) {
		return dst
	}
	for i, p := range pats {
		if has(seg, base+int32(i)) && memo.match(p, l.Text) {
			return append(dst, Hit{Rule: c.rule, Line: l, Captures: addCaptures(nil, p, l.Text, memo), Kind: k})
		}
	}
	return dst
}

// selects applies the rule's source and label globs.
func (c *compiled) selects(l sources.Line) bool {
	return selects(c.rule, l)
}

// selects reports whether l's source matches one of r's source globs (when it has
// any) and each of r's label globs matches the line's label of that name.
func selects(r *rules.Rule, l sources.Line) bool {
	if len(r.Sources) > 0 {
		ok := false
		for _, g := range r.Sources {
			if m, _ := path.Match(g, l.Source); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for name, g := range r.Labels {
		v, present := l.Labels[name]
		if !present {
			return false
		}
		if m, _ := path.Match(g, v); !m {
			return false
		}
	}
	return true
}

// addCaptures adds the named groups of p (which matches text) that took part in the
// match; a name already captured keeps its first value.
func addCaptures(caps map[string]string, p pattern, text string, memo *runMemo) map[string]string {
	re := p.re
	if re.NumSubexp() == 0 {
		return caps
	}
	names := re.SubexpNames()
	idx := memo.submatches(p, text)
	for g := 1; g < len(names) && 2*g+1 < len(idx); g++ {
		if names[g] == "" || idx[2*g] < 0 {
			continue
		}
		if _, seen := caps[names[g]]; seen {
			continue
		}
		if caps == nil {
			caps = map[string]string{}
		}
		caps[names[g]] = text[idx[2*g]:idx[2*g+1]]
	}
	return caps
}

// has reports whether the sorted list seg holds id.
func has(seg []int32, id int32) bool {
	for _, x := range seg {
		if x == id {
			return true
		}
		if x > id {
			return false
		}
	}
	return false
}

// hasIn reports whether the sorted list seg holds an id in [lo, hi).
func hasIn(seg []int32, lo, hi int32) bool {
	for _, x := range seg {
		if x >= lo {
			return x < hi
		}
	}
	return false
}

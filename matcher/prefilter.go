package matcher

import (
	"slices"
	"strings"
)

// smallLiterals is how many literals are searched one by one (strings.Contains is
// vectorised) before the automaton pays off.
const smallLiterals = 4

// prefilter turns a line into the sorted list of pattern entries worth running: those
// whose required literal the line holds, plus those without one. Its cost grows with
// the line, not with the number of rules.
type prefilter struct {
	lits    []literal
	entries [][]int32 // literal index → entries requiring it
	always  []int32   // entries without a literal, sorted
	dfa     *automaton
}

// prefilterBuilder collects entries and their literal sets.
type prefilterBuilder struct {
	p     prefilter
	index map[literal]int
}

func newPrefilterBuilder() *prefilterBuilder {
	return &prefilterBuilder{index: map[literal]int{}}
}

// add registers entry id for pattern: a candidate when the line holds one of its
// required literals, always when it has none.
func (b *prefilterBuilder) add(id int32, pattern string) {
	lits, ok := requiredLiterals(pattern)
	if !ok {
		b.p.always = append(b.p.always, id)
		return
	}
	for _, l := range lits {
		i, seen := b.index[l]
		if !seen {
			i = len(b.p.lits)
			b.index[l] = i
			b.p.lits = append(b.p.lits, l)
			b.p.entries = append(b.p.entries, nil)
		}
		b.p.entries[i] = append(b.p.entries[i], id)
	}
}

func (b *prefilterBuilder) build() *prefilter {
	p := &b.p
	slices.Sort(p.always)
	if len(p.lits) > smallLiterals {
		texts := make([]string, len(p.lits))
		for i, l := range p.lits {
			texts[i] = asciiLower(l.text)
		}
		p.dfa = newAutomaton(texts)
	}
	return p
}

// candidates appends to dst the sorted, distinct entries to evaluate for text. found
// is scratch space for literal ids; both come from the caller's stack.
func (p *prefilter) candidates(text string, found, dst []int32) []int32 {
	found = p.found(text, found)
	dst = append(dst, p.always...)
	for _, li := range found {
		dst = append(dst, p.entries[li]...)
	}
	if len(found) > 0 {
		slices.Sort(dst)
		dst = slices.Compact(dst)
	}
	return dst
}

// found appends the ids of the literals text holds.
func (p *prefilter) found(text string, found []int32) []int32 {
	if p.dfa != nil {
		return p.dfa.scan(text, found)
	}
	for i, l := range p.lits {
		if l.fold && containsFold(text, l.text) || !l.fold && strings.Contains(text, l.text) {
			found = append(found, int32(i))
		}
	}
	return found
}

// containsFold reports whether s holds lit ignoring ASCII case; lit is lower-case.
func containsFold(s, lit string) bool {
	if len(lit) == 0 {
		return true
	}
	first := lit[0]
	for i := 0; i+len(lit) <= len(s); i++ {
		if lower(s[i]) != first {
			continue
		}
		j := 1
		for j < len(lit) && lower(s[i+j]) == lit[j] {
			j++
		}
		if j == len(lit) {
			return true
		}
	}
	return false
}

// asciiLower lower-cases ASCII letters only: other bytes must stay as the line has them.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

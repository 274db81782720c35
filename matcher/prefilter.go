package matcher

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// smallLiterals is how many short anchors are searched one by one (strings.Contains
// is vectorised) before the automaton pays off.
const smallLiterals = 4

// prefilter turns a line into the sorted list of pattern entries worth running: those
// whose every literal clause the line satisfies, plus those without any. Its cost
// grows with the line, not with the number of rules.
//
// Each entry is looked up through one clause, its anchor: the line is scanned once for
// every entry's anchor literals, and an entry whose anchor is there then has its other
// clauses checked with strings.Contains. A line holding a literal shared by many rules
// (a service word, " HTTP/1.") so runs none of their regexps unless it also holds the
// rest of some rule's literals, as `" 5` and ` HTTP/1.` and the service word together.
type prefilter struct {
	lits    []literal // anchor literals
	entries [][]int32 // anchor literal index → entries anchored on it
	always  []int32   // entries without a clause, sorted
	checks  [][]clause
	// Anchors of at least minGramLiteral bytes are found by gram, shorter ones by
	// dfa when there are many (nil otherwise), or one by one.
	gram  *grams
	dfa   *automaton
	short []int32 // indexes of the short anchors
}

// prefilterBuilder collects entries and their clauses.
type prefilterBuilder struct {
	ids     []int32
	clauses [][]clause
}

func newPrefilterBuilder() *prefilterBuilder { return &prefilterBuilder{} }

// add registers entry id (ids come in increasing order) for pattern.
func (b *prefilterBuilder) add(id int32, pattern string) {
	b.ids = append(b.ids, id)
	b.clauses = append(b.clauses, factors(pattern))
}

func (b *prefilterBuilder) build() *prefilter {
	p := &prefilter{}
	if len(b.ids) > 0 {
		p.checks = make([][]clause, b.ids[len(b.ids)-1]+1)
	}
	shared := map[literal]int{} // literal → entries holding it in a clause
	for _, cs := range b.clauses {
		seen := map[literal]bool{}
		for _, c := range cs {
			for _, l := range c {
				if !seen[l] {
					seen[l] = true
					shared[l]++
				}
			}
		}
	}
	index := map[literal]int{}
	for i, id := range b.ids {
		cs := b.clauses[i]
		if len(cs) == 0 {
			p.always = append(p.always, id)
			continue
		}
		a := anchor(cs, shared)
		for j, c := range cs {
			if j != a && worthChecking(c) {
				p.checks[id] = append(p.checks[id], c)
			}
		}
		// The clause likeliest to fail goes first.
		slices.SortStableFunc(p.checks[id], func(x, y clause) int {
			return cmp.Compare(passRate(x), passRate(y))
		})
		for _, l := range cs[a] {
			li, ok := index[l]
			if !ok {
				li = len(p.lits)
				index[l] = li
				p.lits = append(p.lits, l)
				p.entries = append(p.entries, nil)
			}
			p.entries[li] = append(p.entries[li], id)
		}
	}
	slices.Sort(p.always)
	p.buildScanners()
	return p
}

// anchor picks the clause an entry is looked up by: the one whose literals are
// expected to cost least, each found in a line as often as a literal of its length
// (rarity) and then checked for every entry holding it (share). A literal every
// nginx rule holds is found on every nginx line and sends all those rules to their
// checks; a long one is rarely found at all. Short literals only anchor an entry that
// has no clause the gram scanner can look for, and an anchor under 6 bytes makes the
// scanner probe more often.
func anchor(cs []clause, shared map[literal]int) int {
	best, bestCost := 0, 0.0
	for i, c := range cs {
		cost := 0.0
		for _, l := range c {
			cost += float64(shared[l]) * rarity(l)
		}
		// The shortest anchor sets how far apart the gram scanner probes every line
		// (shortest-3 bytes); below 6 bytes that costs about a literal check a line.
		switch n := shortest(c); {
		case n < minGramLiteral:
			cost += 1e6
		case n < 6:
			cost += float64(6 - n)
		}
		if i == 0 || cost < bestCost {
			best, bestCost = i, cost
		}
	}
	return best
}

// rarity guesses how often a line holds l, from its length alone: each two bytes
// more, half as often.
func rarity(l literal) float64 {
	return math.Exp2(-float64(min(len(l.text), 40)) / 2)
}

// passRate guesses how often a line satisfies c.
func passRate(c clause) float64 {
	p := 0.0
	for _, l := range c {
		p += rarity(l)
	}
	return p
}

// worthChecking leaves out clauses of single bytes: nearly every line holds a ':' or
// a ' ', so checking them costs more than it filters.
func worthChecking(c clause) bool { return shortest(c) > 1 }

// buildScanners splits the anchors between the gram scanner and the short path.
func (p *prefilter) buildScanners() {
	var long []literal
	var longIdx []int32
	for i, l := range p.lits {
		if len(l.text) >= minGramLiteral {
			long = append(long, l)
			longIdx = append(longIdx, int32(i))
		} else {
			p.short = append(p.short, int32(i))
		}
	}
	if len(long) > 0 {
		p.gram = newGrams(long)
		// The scanner numbers its literals from 0; entries follow its order.
		p.remap(longIdx)
	}
	if len(p.short) > smallLiterals {
		texts := make([]string, len(p.short))
		for i, li := range p.short {
			texts[i] = asciiLower(p.lits[li].text)
		}
		p.dfa = newAutomaton(texts)
	}
}

// remap renumbers the anchors so that the long ones come first, in the gram
// scanner's order, and the short ones after them.
func (p *prefilter) remap(longIdx []int32) {
	order := append(append([]int32(nil), longIdx...), p.short...)
	lits := make([]literal, len(order))
	entries := make([][]int32, len(order))
	for to, from := range order {
		lits[to], entries[to] = p.lits[from], p.entries[from]
	}
	p.lits, p.entries = lits, entries
	for i := range p.short {
		p.short[i] = int32(len(longIdx) + i)
	}
}

// candidates appends to dst the sorted, distinct entries to evaluate for text. found
// is scratch space for literal ids; both come from the caller's stack.
func (p *prefilter) candidates(text string, found, dst []int32) []int32 {
	found = p.found(text, found)
	dst = append(dst, p.always...)
	for _, li := range found {
		for _, id := range p.entries[li] {
			if p.holds(id, text) {
				dst = append(dst, id)
			}
		}
	}
	if len(found) > 1 || len(found) > 0 && len(p.always) > 0 {
		slices.Sort(dst)
		dst = slices.Compact(dst)
	}
	return dst
}

// holds reports whether text satisfies every clause of entry id besides its anchor.
func (p *prefilter) holds(id int32, text string) bool {
	for _, c := range p.checks[id] {
		if !containsAny(text, c) {
			return false
		}
	}
	return true
}

func containsAny(text string, c clause) bool {
	for _, l := range c {
		if contains(text, l) {
			return true
		}
	}
	return false
}

func contains(text string, l literal) bool {
	if l.fold {
		return containsFold(text, l.text)
	}
	return strings.Contains(text, l.text)
}

// found appends the ids of the anchor literals text holds.
func (p *prefilter) found(text string, found []int32) []int32 {
	if p.gram != nil {
		found = p.gram.scan(text, found)
	}
	if p.dfa != nil {
		// The automaton numbers the short anchors from 0 and dedupes among them only:
		// it appends after found, and each id is renumbered in place.
		for _, id := range p.dfa.scan(text, found[len(found):]) {
			found = append(found, p.short[id])
		}
		return found
	}
	for _, li := range p.short {
		if contains(text, p.lits[li]) {
			found = append(found, li)
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

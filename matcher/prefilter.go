package matcher

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	checks  [][]check
	// Anchors of at least minGramLiteral bytes are found by gram, shorter ones by
	// dfa when there are many (nil otherwise), or one by one.
	gram  *grams
	dfa   *automaton
	short []int32 // indexes of the short anchors
	// keyed, by anchor literal index, looks up the entries of an anchor many entries
	// share by their key clause in one pass; nil where they are checked one by one.
	keyed []*keyIndex
	b     *prefilterBuilder
}

// prefilterBuilder collects entries and their clauses.
type prefilterBuilder struct {
	ids      []int32
	patterns []string // until factored
	clauses  [][]clause
}

func newPrefilterBuilder() *prefilterBuilder { return &prefilterBuilder{} }

// add registers entry id (ids come in increasing order) for pattern.
func (b *prefilterBuilder) add(id int32, pattern string) {
	b.ids = append(b.ids, id)
	b.patterns = append(b.patterns, pattern)
}

// factorChunk is how many patterns a goroutine of factor takes at a time.
const factorChunk = 64

// factor finds the clauses of the patterns added, on every core when they are many:
// parsing a thousand rules' patterns again is most of New, and replay waits for it.
func (b *prefilterBuilder) factor() {
	if b.patterns == nil {
		return
	}
	b.clauses = make([][]clause, len(b.patterns))
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(1)-1) * factorChunk
			if lo >= len(b.patterns) {
				return
			}
			for i := lo; i < min(lo+factorChunk, len(b.patterns)); i++ {
				b.clauses[i] = factors(b.patterns[i])
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(b.patterns)/factorChunk) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	b.patterns = nil
}

// build makes the prefilter. freq, when not nil, is how often lines hold each
// literal (measured on a sample of the lines to come); without it anchors and check
// order are guessed from the literals' lengths. seen counts the sample's windows
// (countWindows) and its bytes (countBytes), or is nil; sample is the sample itself
// (families measure the literals they share on it), or nil.
func (b *prefilterBuilder) build(freq map[literal]float64, seen []uint32, bytesSeen *[256]uint32, sample []string) *prefilter {
	b.factor()
	p := &prefilter{b: b}
	if len(b.ids) > 0 {
		p.checks = make([][]check, b.ids[len(b.ids)-1]+1)
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
	often := func(l literal) float64 {
		if f, ok := freq[l]; ok {
			return f
		}
		return rarity(l)
	}
	floor := freq[literal{}] // measured: what a clause costs beyond its literals
	cost := func(c clause) float64 {
		x := floor
		for _, l := range c {
			if freq != nil {
				x += often(l)
			} else {
				x += float64(shared[l]) * often(l)
			}
		}
		return x
	}
	minLen := b.anchorLength(cost)
	anchors := make([]clause, len(b.ids)) // nil: the entry has no anchor
	checksOf := make([][]clause, len(b.ids))
	for i := range b.ids {
		cs := b.clauses[i]
		a, _ := anchor(cs, cost, minLen)
		if a < 0 { // no clause, or none an anchor can be
			continue
		}
		anchors[i] = cs[a]
		for j, c := range cs {
			if j != a && worthChecking(c) && !anchorImplies(cs[a], c) {
				checksOf[i] = append(checksOf[i], c)
			}
		}
	}
	families(anchors, checksOf, minLen, often, sample, bytesSeen)
	index := map[literal]int{}
	clauseIDs := map[string]int32{}
	for i, id := range b.ids {
		if anchors[i] == nil {
			p.always = append(p.always, id)
			continue
		}
		checks := checksOf[i]
		// The clause likeliest to fail goes first.
		slices.SortStableFunc(checks, func(x, y clause) int {
			return cmp.Compare(passRate(x, often), passRate(y, often))
		})
		for _, c := range checks {
			k := newCheck(c, bytesSeen)
			k.id = clauseID(clauseIDs, c)
			p.checks[id] = append(p.checks[id], k)
		}
		for _, l := range anchors[i] {
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
	// The key indexes are built beside the scanners, by anchor as numbered now;
	// buildScanners renumbers the anchors.
	keyed := make(chan []*keyIndex, 1)
	go func(entries [][]int32) { keyed <- p.keyIndexes(entries) }(p.entries)
	order := p.buildScanners(seen)
	byOld := <-keyed
	p.keyed = make([]*keyIndex, len(p.lits))
	for to, from := range order {
		p.keyed[to] = byOld[from]
	}
	return p
}

// tuned builds the prefilter fitted to sample: each literal's frequency, and each
// window's, in it. The sample's windows and bytes are
// counted beside its literals: a replay waits for the fitted prefilter.
func (b *prefilterBuilder) tuned(sample []string) *prefilter {
	b.factor()
	var seen []uint32
	var bytesSeen *[256]uint32
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		seen, bytesSeen = countWindows(sample), countBytes(sample)
	}()
	freq := frequencies(b.clauses, sample)
	<-counted
	return b.build(freq, seen, bytesSeen, sample)
}

// frequencies returns the share of sample lines holding each literal of the clauses.
// A tailed literal is looked for only on the lines holding its text.
func frequencies(clauses [][]clause, sample []string) map[literal]float64 {
	index := map[literal]int32{} // ≥ 0: long[i]; < 0: short[-1-i]
	var long, short []literal
	add := func(l literal) int32 {
		if i, ok := index[l]; ok {
			return i
		}
		i := -1 - int32(len(short))
		if len(l.text) >= minGramLiteral {
			i = int32(len(long))
			long = append(long, l)
		} else {
			short = append(short, l)
		}
		index[l] = i
		return i
	}
	var tailed []literal
	tailedAt := map[literal]int{}
	deps := map[int32][]int32{} // a plain literal's index → the tailed literals of its text
	for _, cs := range clauses {
		for _, c := range cs {
			for _, l := range c {
				if l.tail == "" {
					add(l)
					continue
				}
				if _, ok := tailedAt[l]; ok {
					continue
				}
				tailedAt[l] = len(tailed)
				at := add(literal{text: l.text})
				deps[at] = append(deps[at], int32(len(tailed)))
				tailed = append(tailed, l)
			}
		}
	}
	var g *grams
	if len(long) > 0 {
		g = newGrams(long, nil)
	}
	// The sample's halves are counted on two cores.
	type counts struct{ long, short, tailed []int }
	count := func(lines []string) counts {
		c := counts{make([]int, len(long)), make([]int, len(short)), make([]int, len(tailed))}
		held := func(text string, at int32) {
			for _, t := range deps[at] {
				if containsTailed(text, tailed[t]) {
					c.tailed[t]++
				}
			}
		}
		var found []int32
		for _, text := range lines {
			if g != nil {
				found = g.scan(text, found[:0])
				for _, li := range found {
					c.long[li]++
					held(text, li)
				}
			}
			for i, l := range short {
				if contains(text, l) {
					c.short[i]++
					held(text, -1-int32(i))
				}
			}
		}
		return c
	}
	half := len(sample) / 2
	second := make(chan counts, 1)
	go func() { second <- count(sample[half:]) }()
	c, c2 := count(sample[:half]), <-second
	for _, pair := range [][2][]int{{c.long, c2.long}, {c.short, c2.short}, {c.tailed, c2.tailed}} {
		for i, x := range pair[1] {
			pair[0][i] += x
		}
	}
	longCount, shortCount, tailedCount := c.long, c.short, c.tailed
	n := float64(len(sample) + 1)
	freq := make(map[literal]float64, len(index)+len(tailed))
	for l, i := range index {
		c := 0
		if i >= 0 {
			c = longCount[i]
		} else {
			c = shortCount[-1-i]
		}
		freq[l] = float64(c) / n
	}
	for l, i := range tailedAt {
		freq[l] = float64(tailedCount[i]) / n
	}
	// A clause the sample never satisfies still counts half a line: rare, not
	// impossible (however many literals it has).
	freq[literal{}] = 0.5 / n
	return freq
}

// anchor picks the clause an entry is looked up by: the one expected to send it to
// its checks least often (cost), among those whose literals are all at least minLen
// bytes, else the longest plain one (-1 when there is none). A tailed literal is an
// anchor of the gram scanner only (minLen is at least minGramLiteral): the scanner
// checks its tail where it finds its text. A measured frequency says how often
// directly. A guessed one (from length) is weighed by how many entries share the
// literal too: one every nginx rule holds (" HTTP/1.") tends to be one every nginx
// line holds.
func anchor(cs []clause, cost func(clause) float64, minLen int) (int, float64) {
	best, bestCost := -1, 0.0
	for i, c := range cs {
		if shortest(c) < max(minLen, minGramLiteral) && c.tailed() || shortest(c) < minLen {
			continue
		}
		// Of clauses the sample holds alike (often never), the one guessed rarer: a
		// tailed literal before its plain text.
		if x := cost(c); best < 0 || x < bestCost || x == bestCost && guess(c) < guess(cs[best]) {
			best, bestCost = i, x
		}
	}
	if best >= 0 {
		return best, bestCost
	}
	for i, c := range cs {
		if !c.tailed() && (best < 0 || shortest(c) > shortest(cs[best])) {
			best = i
		}
	}
	if best < 0 {
		return -1, 0
	}
	return best, cost(cs[best])
}

// probesPerCheck is about how many probes of the gram scanner cost as much as a
// found literal and its entries' checks.
const probesPerCheck = 10

// typicalLine is the line length, in bytes, the probe count is weighed for.
const typicalLine = 150

// anchorLength chooses the shortest anchor the gram scanner gets, which sets its
// stride (length-3, every line pays typicalLine/stride probes) against the anchors
// each entry must then do with: the total expected cost of a line is least.
func (b *prefilterBuilder) anchorLength(cost func(clause) float64) int {
	best, bestTotal := minGramLiteral, -1.0
	for stride := maxStride; stride >= 1; stride-- {
		n := stride + 3
		total := float64(typicalLine) / float64(stride)
		for _, cs := range b.clauses {
			if !slices.ContainsFunc(cs, func(c clause) bool { return shortest(c) >= minGramLiteral }) {
				continue // short anchors only: the gram scanner does not see it
			}
			a, x := anchor(cs, cost, n)
			if a < 0 || shortest(cs[a]) < n {
				total = -1 // this entry has no anchor that long
				break
			}
			total += probesPerCheck * x
		}
		if total >= 0 && (bestTotal < 0 || total < bestTotal) {
			best, bestTotal = n, total
		}
	}
	return best
}

// rarity guesses how often a line holds l from its length alone, when no sample of
// lines says: each two bytes more (a tail's class counting as a byte), half as often.
func rarity(l literal) float64 {
	return math.Exp2(-float64(min(len(l.text)+len(l.tail)/tailClass, 40)) / 2)
}

// guess is how often a line holds a literal of c, guessed from their lengths.
func guess(c clause) float64 {
	x := 0.0
	for _, l := range c {
		x += rarity(l)
	}
	return x
}

// anchorImplies reports whether a line holding the anchor a satisfies c: a tailed
// anchor's plain literal need not be checked again.
func anchorImplies(a, c clause) bool {
	for _, x := range a {
		if !slices.ContainsFunc(c, func(y literal) bool {
			return y.tail == "" && x.fold == y.fold && strings.Contains(x.text, y.text)
		}) {
			return false
		}
	}
	return true
}

// passRate is about how often a line satisfies c.
func passRate(c clause, often func(literal) float64) float64 {
	p := 0.0
	for _, l := range c {
		p += often(l)
	}
	return p
}

// worthChecking leaves out clauses of single bytes: nearly every line holds a ':' or
// a ' ', so checking them costs more than it filters.
func worthChecking(c clause) bool { return shortest(c) > 1 }

// buildScanners splits the anchors between the gram scanner and the short path. It
// returns, for each anchor's new number, its number before.
func (p *prefilter) buildScanners(seen []uint32) []int32 {
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
	order := make([]int32, len(p.lits))
	for i := range order {
		order[i] = int32(i)
	}
	if len(long) > 0 {
		p.gram = newGrams(long, seen)
		// The scanner numbers its literals from 0; entries follow its order.
		order = p.remap(longIdx)
	}
	if len(p.short) > smallLiterals {
		texts := make([]string, len(p.short))
		for i, li := range p.short {
			texts[i] = asciiLower(p.lits[li].text)
		}
		p.dfa = newAutomaton(texts)
	}
	return order
}

// remap renumbers the anchors so that the long ones come first, in the gram
// scanner's order, and the short ones after them; it returns the old numbers in the
// new order.
func (p *prefilter) remap(longIdx []int32) []int32 {
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
	return order
}

// candidates appends to dst the sorted, distinct entries to evaluate for text. found
// is scratch space for literal ids; both come from the caller's stack.
func (p *prefilter) candidates(text string, found, dst []int32) []int32 {
	found = p.found(text, found)
	dst = append(dst, p.always...)
	var memo clauseMemo
	unsorted := false
	for _, li := range found {
		if k := p.keyed[li]; k != nil {
			n := len(dst)
			dst = k.candidates(p, text, &memo, dst)
			unsorted = unsorted || len(dst)-n > 1
			continue
		}
		for _, id := range p.entries[li] {
			if p.holds(id, text, &memo) {
				dst = append(dst, id)
			}
		}
	}
	if unsorted || len(found) > 1 || len(found) > 0 && len(p.always) > 0 {
		slices.Sort(dst)
		dst = slices.Compact(dst)
	}
	return dst
}

// check is a clause to check; a clause of several literals sharing a start (" disk
// usage 90%", ... " disk usage 100%") first looks for the start once. id numbers the
// distinct clauses of the prefilter, for clauseMemo. Exact literals are looked for by
// their rarest byte (rare: its place in each literal, then in prefix).
type check struct {
	clause
	prefix string
	id     int32
	rare   []uint8
}

// clauseID returns the number of clause c among the distinct clauses in ids, giving
// it the next one when it is new.
func clauseID(ids map[string]int32, c clause) int32 {
	k := c.key()
	id, ok := ids[k]
	if !ok {
		id = int32(len(ids))
		ids[k] = id
	}
	return id
}

// key is a string that is the same for equal clauses only.
func (c clause) key() string {
	var k strings.Builder
	for _, l := range c {
		k.WriteString(l.text)
		if l.fold {
			k.WriteString("\x00f")
		}
		if l.tail != "" {
			k.WriteString("\x00t")
			k.WriteString(l.tail)
		}
		k.WriteString("\x00\x00")
	}
	return k.String()
}

// clauseMemo holds, for one line, whether it satisfied the clauses checked last (by
// id+1, so that its zero value holds none). Entries anchored on one literal often
// share their other clauses (the method alternation, " HTTP/1." of a thousand service
// rules): a line was searched for the same literals once for each of them, seven
// times in eight at 1000 rules.
type clauseMemo [16]struct {
	id int32
	ok bool
}

func newCheck(c clause, bytesSeen *[256]uint32) check {
	k := check{clause: c, prefix: sharedPrefix(c)}
	for _, l := range c {
		k.rare = append(k.rare, rarest(l.text, bytesSeen))
	}
	k.rare = append(k.rare, rarest(k.prefix, bytesSeen))
	return k
}

// sharedPrefix is the start (3 bytes or more) the exact literals of c share, or "".
func sharedPrefix(c clause) string {
	if len(c) < 2 || c[0].fold {
		return ""
	}
	prefix := c[0].text
	for _, l := range c[1:] {
		if l.fold {
			return ""
		}
		n := 0
		for n < len(prefix) && n < len(l.text) && prefix[n] == l.text[n] {
			n++
		}
		prefix = prefix[:n]
	}
	if len(prefix) < 3 {
		return ""
	}
	return prefix
}

// holds reports whether text satisfies every clause of entry id besides its anchor;
// memo remembers the clauses text was checked for already.
func (p *prefilter) holds(id int32, text string, memo *clauseMemo) bool {
	for i := range p.checks[id] {
		if !p.checks[id][i].holds(text, memo) {
			return false
		}
	}
	return true
}

// holds reports whether text satisfies the clause, by memo when it was checked for
// this line already.
func (c *check) holds(text string, memo *clauseMemo) bool {
	slot := &memo[c.id%int32(len(memo))]
	if slot.id == c.id+1 {
		return slot.ok
	}
	ok := (c.prefix == "" || containsAt(text, c.prefix, int(c.rare[len(c.clause)]))) && c.containsAny(text)
	slot.id, slot.ok = c.id+1, ok
	return ok
}

// containsAny reports whether text holds a literal of the clause.
func (c *check) containsAny(text string) bool {
	for i, l := range c.clause {
		if l.tail != "" {
			if containsTailed(text, l) {
				return true
			}
		} else if l.fold && containsFold(text, l.text) || !l.fold && containsAt(text, l.text, int(c.rare[i])) {
			return true
		}
	}
	return false
}

// containsAt reports whether text holds lit, looking for its byte at k (its rarest)
// and comparing around each one found: strings.Contains looks for the first byte,
// and `"status":5` starts with a byte a JSON line holds twenty times.
func containsAt(text, lit string, k int) bool {
	n := len(lit)
	if n == 0 {
		return true
	}
	c := lit[k]
	// The rare byte can be at i for k ≤ i ≤ len(text)-n+k.
	for i := k; i <= len(text)-n+k; i++ {
		j := strings.IndexByte(text[i:len(text)-n+k+1], c)
		if j < 0 {
			return false
		}
		i += j
		if text[i-k:i-k+n] == lit {
			return true
		}
	}
	return false
}

// rarest returns the place in s of the byte lines hold least: by bytesSeen when not
// nil, else by a guess at log lines (spaces, lower-case letters, digits and JSON's
// punctuation everywhere, capitals and rare letters seldom).
func rarest(s string, bytesSeen *[256]uint32) uint8 {
	best, bestSeen := 0, uint32(0)
	for i := 0; i < len(s) && i <= math.MaxUint8; i++ {
		var seen uint32
		if bytesSeen != nil {
			seen = bytesSeen[s[i]]
		} else {
			seen = guessSeen(s[i])
		}
		if i == 0 || seen < bestSeen {
			best, bestSeen = i, seen
		}
	}
	return uint8(best)
}

func guessSeen(c byte) uint32 {
	switch {
	case c == ' ':
		return 100
	case strings.IndexByte("etaoinsrlcdu", c) >= 0:
		return 80
	case strings.IndexByte("\":/-.=,_", c) >= 0 || '0' <= c && c <= '9':
		return 70
	case strings.IndexByte("qzxjkvwy", c) >= 0:
		return 20
	case 'a' <= c && c <= 'z':
		return 50
	case 'A' <= c && c <= 'Z':
		return 30
	}
	return 10
}

// countBytes counts the sample lines' bytes.
func countBytes(sample []string) *[256]uint32 {
	var seen [256]uint32
	for _, text := range sample {
		for i := 0; i < len(text); i++ {
			seen[text[i]]++
		}
	}
	return &seen
}

func contains(text string, l literal) bool {
	if l.tail != "" {
		return containsTailed(text, l)
	}
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

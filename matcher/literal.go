package matcher

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what the literal extraction keeps. A longer literal is cut: a line holding
// the whole literal holds its prefix too, so cutting only weakens the filter. A larger
// alternation gives up and leaves the pattern always a candidate.
const (
	maxLiteralLen = 64
	maxLiteralSet = 32
)

// literal is a string every match of a pattern contains. A folding literal is stored
// lower-cased (ASCII) and compared ignoring ASCII case; an exact one as written.
//
// A tailed literal (tail not empty) is an exact text that some occurrence of must be
// followed by bytes of given classes: `lag [0-9]{4,} ms` holds "lag " followed by
// four digits. It is only ever checked, never an anchor: it turns away the near
// misses ("lag 250 ms") a regexp would otherwise run on.
type literal struct {
	text string
	fold bool
	tail string // tailClass bitmaps, one a byte after text
}

// tailClass is the size of one byte class of a tail: a bitmap of the ASCII bytes, two
// little-endian words (tails are strings so that literals stay comparable).
const tailClass = 16

// maxTail caps the classes of a tail.
const maxTail = 8

// tailed reports whether the clause holds a tailed literal.
func (c clause) tailed() bool {
	return slices.ContainsFunc(c, func(l literal) bool { return l.tail != "" })
}

// tailAt reports whether the bytes of s from at are in the classes of tail.
func tailAt(s string, at int, tail string) bool {
	if at+len(tail)/tailClass > len(s) {
		return false
	}
	for k := 0; k < len(tail); k += tailClass {
		b := s[at+k/tailClass]
		if b >= utf8.RuneSelf || tail[k+int(b>>3)]&(1<<(b&7)) == 0 {
			return false
		}
	}
	return true
}

// containsTailed reports whether s holds l's text followed by bytes of its tail.
func containsTailed(s string, l literal) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], l.text)
		if j < 0 {
			return false
		}
		if tailAt(s, i+j+len(l.text), l.tail) {
			return true
		}
		i += j + 1
	}
}

// tailedRuns returns, for each exact literal of a concatenation that byte classes
// follow, a clause of that literal tailed with them: `ratio 0\.[0-4][0-9]` gives
// "ratio 0." followed by a byte of [0-4] and one of [0-9].
func tailedRuns(subs []*syntax.Regexp) []clause {
	var out []clause
	for i, sub := range subs {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			continue
		}
		text := string(sub.Rune)
		if len(text) < 2 || len(text) > maxLiteralLen || strings.ContainsRune(text, utf8.RuneError) {
			continue
		}
		var tail []byte
		for _, next := range subs[i+1:] {
			classes, more := byteClasses(next)
			for _, c := range classes {
				if len(tail) < maxTail*tailClass {
					tail = append(tail, c[:]...)
				}
			}
			if !more || len(tail) >= maxTail*tailClass {
				break
			}
		}
		if len(tail) > 0 {
			out = append(out, clause{{text: text, tail: string(tail)}})
		}
	}
	return out
}

// byteClasses returns the classes of the bytes every match of re starts with, when
// re matches single ASCII bytes of classes (a class, an exact ASCII literal, a
// repetition of a class: its minimum), and whether a match is always those bytes
// exactly (what follows re in a concatenation then follows them).
func byteClasses(re *syntax.Regexp) (classes [][tailClass]byte, more bool) {
	switch re.Op {
	case syntax.OpCapture:
		return byteClasses(re.Sub[0])
	case syntax.OpCharClass:
		var c [tailClass]byte
		for i := 0; i < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				c[r>>3] |= 1 << (r & 7)
			}
		}
		return [][tailClass]byte{c}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return classes, false
			}
			var c [tailClass]byte
			c[r>>3] |= 1 << (r & 7)
			classes = append(classes, c)
		}
		return classes, true
	case syntax.OpPlus, syntax.OpRepeat:
		min, max := 1, -1
		if re.Op == syntax.OpRepeat {
			min, max = re.Min, re.Max
		}
		one, ok := byteClasses(re.Sub[0])
		if len(one) != 1 || !ok {
			return nil, false
		}
		for range min {
			classes = append(classes, one[0])
			if len(classes) == maxTail {
				return classes, false
			}
		}
		return classes, min == max
	}
	return nil, false
}

// clause is a set of literals of which every match of a pattern holds at least one.
type clause []literal

// factors returns clauses that every match of pattern satisfies all of: a line the
// pattern matches holds one literal of each clause. None: nothing can be derived, the
// pattern must run on every line.
func factors(pattern string) []clause {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var out []clause
	for _, c := range conj(re) {
		if !slices.ContainsFunc(out, func(o clause) bool { return slices.Equal(o, c) }) {
			out = append(out, c)
		}
	}
	// A clause another one implies ("HTTP/1." beside `HTTP/1.0" 5|HTTP/1.1" 5`)
	// would only be checked twice.
	var kept []clause
	for i, c := range out {
		redundant := false
		for j, o := range out {
			// Of two clauses implying each other the first stays.
			if j != i && implies(o, c) && (j < i || !implies(c, o)) {
				redundant = true
				break
			}
		}
		if !redundant {
			kept = append(kept, c)
		}
	}
	return kept
}

// implies reports whether a line satisfying a satisfies b: every literal of a holds
// one of b's.
//
// A tailed literal implies only itself: the plain literal it is made from must stay,
// the anchor it may be.
func implies(a, b clause) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y literal) bool {
			if x.tail != "" || y.tail != "" {
				return x == y
			}
			return x.fold == y.fold && strings.Contains(x.text, y.text)
		}) {
			return false
		}
	}
	return true
}

// maxExpansion caps how many strings a run of small classes and alternations expands
// to.
const maxExpansion = 16

// expandedRuns returns a clause for each run of adjacent parts of a concatenation
// that together match only a few strings: `HTTP/1\.[01]" 5` is the clause
// {`HTTP/1.0" 5`, `HTTP/1.1" 5`}, longer and rarer than any of its pieces.
func expandedRuns(subs []*syntax.Regexp) []clause {
	var out []clause
	var run []string
	parts := 0
	flush := func() {
		if parts > 1 && !slices.Contains(run, "") {
			c := make(clause, len(run))
			for i, s := range run {
				if len(s) > maxLiteralLen {
					s = s[:maxLiteralLen]
				}
				c[i] = literal{text: s}
			}
			out = append(out, c)
		}
		run, parts = nil, 0
	}
	for _, sub := range subs {
		set, ok := expand(sub)
		if !ok {
			flush()
			continue
		}
		if parts == 0 {
			run, parts = set, 1
			continue
		}
		next, ok := product(run, set)
		if !ok || len(set) > longProduct && shortestString(run) >= expandLong {
			flush()
			run, parts = set, 1
			continue
		}
		run, parts = next, parts+1
	}
	flush()
	return out
}

// expandLong is the length past which a run is not multiplied any more by a set of
// more than longProduct strings: `"status":5` is rare enough, and `"status":5[0-9]`
// would be ten literals a JSON line with a status compares. A few alternatives still
// multiply it: "orders: TLS handshake " is in every TLS line of the service, "orders:
// TLS handshake failed with " and "... timed out with " only in its failures.
const (
	expandLong  = 10
	longProduct = 3
)

func shortestString(ss []string) int {
	n := -1
	for _, s := range ss {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// expand returns every string re matches, when they are few and each is matched
// byte for byte (no case folding, no U+FFFD, which matches any invalid byte).
func expand(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || slices.Contains(re.Rune, utf8.RuneError) {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo <= utf8.RuneError && utf8.RuneError <= hi || hi-lo >= maxExpansion || len(out)+int(hi-lo) >= maxExpansion {
				return nil, false
			}
			for r := lo; r <= hi; r++ {
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpQuest:
		set, ok := expand(re.Sub[0])
		if !ok || len(set) >= maxExpansion {
			return nil, false
		}
		return append(set, ""), true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			set, ok := expand(sub)
			if !ok {
				return nil, false
			}
			if out, ok = product(out, set); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := expand(sub)
			if !ok || len(out)+len(set) > maxExpansion {
				return nil, false
			}
			out = append(out, set...)
		}
		return out, true
	}
	return nil, false
}

// product returns every a followed by every b, when they are few enough.
func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxExpansion {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			if len(x)+len(y) > 4*maxLiteralLen {
				return nil, false
			}
			out = append(out, x+y)
		}
	}
	return out, true
}

// requiredLiterals returns the best single clause of the pattern (see better), or
// ok=false when none can be derived.
func requiredLiterals(pattern string) (lits []literal, ok bool) {
	best := bestClause(factors(pattern))
	return best, best != nil
}

func bestClause(cs []clause) clause {
	var best clause
	for _, c := range cs {
		if !c.tailed() && better(c, best) {
			best = c
		}
	}
	return best
}

// conj walks the syntax tree. Every clause of a node must hold for every string the
// node can match: a concatenation needs the clauses of all its parts, an alternation
// one clause uniting a clause from every branch, a repetition at least one
// occurrence; a literal's runs of exact runes are each a clause of one.
func conj(re *syntax.Regexp) []clause {
	switch re.Op {
	case syntax.OpLiteral:
		var out []clause
		for _, l := range literalRuns(re.Rune, re.Flags&syntax.FoldCase != 0) {
			out = append(out, clause{l})
		}
		return out
	case syntax.OpCapture, syntax.OpPlus:
		return conj(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return conj(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []clause
		for _, sub := range re.Sub {
			out = append(out, conj(sub)...)
		}
		out = append(out, expandedRuns(re.Sub)...)
		return append(out, tailedRuns(re.Sub)...)
	case syntax.OpAlternate:
		if c, ok := alternation(re.Sub); ok {
			return []clause{c}
		}
	}
	return nil
}

// alternation unites the sets of every branch; one branch without a set (or too many
// literals) leaves the whole alternation without one.
func alternation(subs []*syntax.Regexp) ([]literal, bool) {
	var all []literal
	for _, sub := range subs {
		set := bestClause(conj(sub))
		if set == nil {
			return nil, false
		}
		for _, l := range set {
			if !containsLiteral(all, l) {
				all = append(all, l)
			}
		}
		if len(all) > maxLiteralSet {
			return nil, false
		}
	}
	return all, len(all) > 0
}

func containsLiteral(set []literal, l literal) bool {
	for _, x := range set {
		if x == l {
			return true
		}
	}
	return false
}

// better prefers the set whose shortest literal is longest (fewer false candidates),
// then the smaller set.
func better(a, b []literal) bool {
	if b == nil {
		return true
	}
	sa, sb := shortest(a), shortest(b)
	if sa != sb {
		return sa > sb
	}
	return len(a) < len(b)
}

func shortest(set []literal) int {
	n := -1
	for _, l := range set {
		if n < 0 || len(l.text) < n {
			n = len(l.text)
		}
	}
	return n
}

// literalRuns returns the runs of runes that a line must hold byte for byte (up to
// ASCII case when folding), in order. Runes break a run when the regexp could match
// them with other bytes: U+FFFD (it matches any invalid UTF-8 byte) and, when folding,
// any rune with a non-ASCII case variant ('k' also matches the Kelvin sign, 's' the
// long s). A run longer than maxLiteralLen keeps its start.
func literalRuns(runes []rune, fold bool) []literal {
	var out []literal
	var cur strings.Builder
	flush := func() {
		text := cur.String()
		if len(text) > maxLiteralLen {
			text = text[:maxLiteralLen]
		}
		if text != "" {
			out = append(out, literal{text: text, fold: fold})
		}
		cur.Reset()
	}
	for _, r := range runes {
		if !exactRune(r, fold) {
			flush()
			continue
		}
		if fold && r < utf8.RuneSelf {
			r = unicode.ToLower(r)
		}
		cur.WriteRune(r)
	}
	flush()
	return out
}

// exactRune reports whether a line matching the rune must hold its UTF-8 bytes (up to
// ASCII case when folding).
func exactRune(r rune, fold bool) bool {
	if r == utf8.RuneError {
		return false
	}
	if !fold {
		return true
	}
	ascii := r < utf8.RuneSelf
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if !ascii || f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

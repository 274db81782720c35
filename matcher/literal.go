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
type literal struct {
	text string
	fold bool
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
	return out
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
		if better(c, best) {
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
		return out
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

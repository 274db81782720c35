package matcher

import (
	"regexp/syntax"
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

// requiredLiterals returns literals such that every match of the pattern contains at
// least one of them, or ok=false when none can be derived (the pattern is then
// evaluated on every line).
func requiredLiterals(pattern string) (lits []literal, ok bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return required(re)
}

// required walks the syntax tree. A node's set must be hit by every string the node
// can match: a concatenation takes the best set of any of its parts, an alternation
// needs a set from every branch and unites them, a repetition needs at least one
// occurrence.
func required(re *syntax.Regexp) ([]literal, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		l, ok := literalRun(re.Rune, re.Flags&syntax.FoldCase != 0)
		if !ok {
			return nil, false
		}
		return []literal{l}, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []literal
		for _, sub := range re.Sub {
			if set, ok := required(sub); ok && better(set, best) {
				best = set
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		return alternation(re.Sub)
	}
	return nil, false
}

// alternation unites the sets of every branch; one branch without a set (or too many
// literals) leaves the whole alternation without one.
func alternation(subs []*syntax.Regexp) ([]literal, bool) {
	var all []literal
	for _, sub := range subs {
		set, ok := required(sub)
		if !ok {
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

// literalRun picks the longest run of runes that a line must hold byte for byte (up to
// ASCII case when folding). Runes break a run when the regexp could match them with
// other bytes: U+FFFD (it matches any invalid UTF-8 byte) and, when folding, any rune
// with a non-ASCII case variant ('k' also matches the Kelvin sign, 's' the long s).
func literalRun(runes []rune, fold bool) (literal, bool) {
	var best, cur strings.Builder
	flush := func() {
		if cur.Len() > best.Len() {
			best.Reset()
			best.WriteString(cur.String())
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
	text := best.String()
	if len(text) > maxLiteralLen {
		text = text[:maxLiteralLen]
	}
	return literal{text: text, fold: fold}, text != ""
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

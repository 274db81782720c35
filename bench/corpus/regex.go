package corpus

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// Flavor is the regexp dialect a pattern is printed in. The rules are written in Go's
// syntax; ripgrep, GNU grep -E and mtail each read a slightly different one, so every
// tool gets the same pattern rewritten from Go's syntax tree, not a hand-made copy.
type Flavor int

const (
	// Rust is ripgrep's (Rust regex) syntax; Go reads it the same way.
	Rust Flavor = iota
	// ERE is POSIX extended syntax with GNU's \b, for grep -E in the C locale.
	ERE
	// Mtail is Go syntax inside mtail's /.../ literal: a slash is escaped.
	Mtail
)

// Translate prints the Go pattern src in flavor f. The result matches the same lines
// of printable ASCII text, which is all the corpus holds: a line holds no newline
// (classes drop it), laziness does not change whether a line matches (quantifiers
// become greedy), and captures become plain groups.
func Translate(src string, f Flavor) (string, error) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", src, err)
	}
	var b strings.Builder
	if err := printRe(&b, re, f); err != nil {
		return "", fmt.Errorf("translate %q: %w", src, err)
	}
	return b.String(), nil
}

// meta are the bytes escaped outside a class, in every Flavor.
const meta = `\.+*?()|[]{}^$`

func printRe(b *strings.Builder, re *syntax.Regexp, f Flavor) error {
	switch re.Op {
	case syntax.OpEmptyMatch:
		b.WriteString("()")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			literalRune(b, r, re.Flags&syntax.FoldCase != 0, f)
		}
	case syntax.OpCharClass:
		return class(b, re.Rune, f)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteByte('.')
	case syntax.OpBeginLine, syntax.OpBeginText:
		b.WriteByte('^')
	case syntax.OpEndLine, syntax.OpEndText:
		b.WriteByte('$')
	case syntax.OpWordBoundary:
		b.WriteString(`\b`)
	case syntax.OpNoWordBoundary:
		b.WriteString(`\B`)
	case syntax.OpCapture:
		b.WriteByte('(')
		if err := printRe(b, re.Sub[0], f); err != nil {
			return err
		}
		b.WriteByte(')')
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if err := atom(b, re.Sub[0], f); err != nil {
			return err
		}
		switch re.Op {
		case syntax.OpStar:
			b.WriteByte('*')
		case syntax.OpPlus:
			b.WriteByte('+')
		case syntax.OpQuest:
			b.WriteByte('?')
		default:
			switch {
			case re.Max == re.Min:
				fmt.Fprintf(b, "{%d}", re.Min)
			case re.Max < 0:
				fmt.Fprintf(b, "{%d,}", re.Min)
			default:
				fmt.Fprintf(b, "{%d,%d}", re.Min, re.Max)
			}
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpAlternate {
				if err := group(b, sub, f); err != nil {
					return err
				}
				continue
			}
			if err := printRe(b, sub, f); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		for i, sub := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			if err := printRe(b, sub, f); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unsupported operator %v", re.Op)
	}
	return nil
}

// atom prints re so that a quantifier can follow it.
func atom(b *strings.Builder, re *syntax.Regexp, f Flavor) error {
	switch {
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0,
		re.Op == syntax.OpCharClass, re.Op == syntax.OpAnyChar, re.Op == syntax.OpAnyCharNotNL,
		re.Op == syntax.OpCapture:
		return printRe(b, re, f)
	}
	return group(b, re, f)
}

func group(b *strings.Builder, re *syntax.Regexp, f Flavor) error {
	b.WriteByte('(')
	if err := printRe(b, re, f); err != nil {
		return err
	}
	b.WriteByte(')')
	return nil
}

func literalRune(b *strings.Builder, r rune, fold bool, f Flavor) {
	if fold && unicode.IsLetter(r) && r < 0x80 {
		lo, up := unicode.ToLower(r), unicode.ToUpper(r)
		if lo != up {
			fmt.Fprintf(b, "[%c%c]", up, lo)
			return
		}
	}
	switch {
	case strings.ContainsRune(meta, r):
		b.WriteByte('\\')
		b.WriteRune(r)
	case r == '/' && f == Mtail:
		b.WriteString(`\/`)
	default:
		b.WriteRune(r)
	}
}

// class prints a character class over printable ASCII plus tab: a class holding most
// of that range is printed negated, as its complement.
func class(b *strings.Builder, ranges []rune, f Flavor) error {
	in := func(c rune) bool {
		for i := 0; i < len(ranges); i += 2 {
			if ranges[i] <= c && c <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	var set, comp []rune
	for c := rune('\t'); c < 0x7f; c++ {
		if c != '\t' && c < ' ' {
			continue
		}
		if in(c) {
			set = append(set, c)
		} else {
			comp = append(comp, c)
		}
	}
	if len(set) == 0 {
		return fmt.Errorf("class %v holds no printable ASCII", ranges)
	}
	neg := len(comp) < len(set)
	list := set
	if neg {
		list = comp
	}
	if neg && len(list) == 0 {
		b.WriteByte('.')
		return nil
	}
	b.WriteByte('[')
	if neg {
		b.WriteByte('^')
	}
	if isSpaceSet(list) {
		b.WriteString("[:space:]")
		b.WriteByte(']')
		return nil
	}
	// ']' first and '-' last are literal in every Flavor (Rust escapes ']' too); in
	// Rust a '\\', '[', '&', '~' or '^' inside needs a backslash, in ERE a backslash is
	// itself. Runs of letters or digits print as ranges.
	var tail string
	if strings.ContainsRune(string(list), ']') {
		if f == ERE {
			b.WriteByte(']')
		} else {
			b.WriteString(`\]`)
		}
	}
	for i := 0; i < len(list); i++ {
		c := list[i]
		j := i
		for j+1 < len(list) && list[j+1] == list[j]+1 && alnum(list[j+1]) {
			j++
		}
		if alnum(c) && j-i >= 2 {
			fmt.Fprintf(b, "%c-%c", c, list[j])
			i = j
			continue
		}
		switch {
		case c == ']':
		case c == '-':
			tail = "-"
		case c == '\t':
			if f == ERE {
				b.WriteByte('\t')
			} else {
				b.WriteString(`\t`)
			}
		case c == '/' && f == Mtail:
			b.WriteString(`\/`)
		case strings.ContainsRune(`\[&~^`, c) && f != ERE:
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteString(tail)
	b.WriteByte(']')
	return nil
}

func alnum(c rune) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isSpaceSet reports whether list is the ASCII white space a line can hold (\S's
// complement once newline, which no line holds, is dropped).
func isSpaceSet(list []rune) bool {
	return string(list) == "\t "
}

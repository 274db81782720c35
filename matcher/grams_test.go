package matcher

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// familyWords fill the families of gramLiterals: of different lengths, some sharing
// starts ("pay", "payments") and some differing only in case.
var familyWords = []string{
	"orders", "payments", "pay", "users", "auth", "cart", "chat", "carts", "inventory",
	"recommendations", "ab", "x", "Users", "AUTH", "ledger", "ledgers", "feeds", "media",
}

// gramLiterals are literal families that share a long start or end and differ in a
// word (what gives the gram scanner its groups), exact and folding, and others; and,
// as a second set, short ones (a short key, at stride 1).
func gramLiterals() [2][]literal {
	var lits []literal
	seen := map[literal]bool{}
	add := func(l literal) {
		if len(l.text) >= minGramLiteral && !seen[l] {
			seen[l] = true
			lits = append(lits, l)
		}
	}
	for _, w := range familyWords {
		add(literal{text: `ERROR:  duplicate key value violates unique constraint "` + w + "_"})
		add(literal{text: `fatal:  password authentication failed for user "` + strings.ToLower(w), fold: true})
		add(literal{text: "connection refused to " + w + "-"})
		add(literal{text: `"service":"` + w + `",`})
		add(literal{text: w + ": retry budget exhausted after "})
		add(literal{text: "level=error component=" + w + ` msg="`})
	}
	for _, s := range []string{"Cannot allocate memory", "Killed process ", " HTTP/1.1\" 5", "out of memory:"} {
		add(literal{text: s})
	}
	long := lits
	lits = nil
	add(literal{text: "qqqqq"}) // stride 2: "err=" is in each literal's two windows
	for i, w := range familyWords {
		add(literal{text: "err=" + w[:min(len(w), 1+i%2)]})
		add(literal{text: "lvl:" + strings.ToLower(w[:1]), fold: true})
	}
	return [2][]literal{long, lits}
}

// bruteGrams is what scan must find: every literal text holds, by index.
func bruteGrams(lits []literal, text string) []int32 {
	var out []int32
	for i, l := range lits {
		if contains(text, l) {
			out = append(out, int32(i))
		}
	}
	return out
}

// gramLine builds a line around some literals of lits: cut, changed in a byte or in
// case, at the start, the end or inside.
func gramLine(r *rand.Rand, lits []literal) string {
	var b strings.Builder
	for range r.IntN(4) {
		s := lits[r.IntN(len(lits))].text
		switch r.IntN(6) {
		case 0:
			s = s[:r.IntN(len(s))]
		case 1:
			i := r.IntN(len(s))
			s = s[:i] + string(rune('A'+r.IntN(58))) + s[i+1:]
		case 2:
			s = strings.ToUpper(s)
		case 3:
			s = s[r.IntN(len(s)):]
		}
		b.WriteString(strings.Repeat(" ", r.IntN(3)))
		b.WriteString(s)
		if r.IntN(2) == 0 {
			b.WriteString(familyWords[r.IntN(len(familyWords))])
		}
	}
	return b.String()
}

// TestGramsGroups: literals sharing a window and differing in a word are looked up
// by the word's bytes (groups form), and the scanner still finds exactly the
// literals a line holds, strings.Contains's answer, with and without sample counts.
func TestGramsGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, lits := range gramLiterals() {
		sample := make([]string, 200)
		for i := range sample {
			sample[i] = gramLine(r, lits)
		}
		for _, g := range []*grams{newGrams(lits, nil), newGrams(lits, countWindows(sample))} {
			require.NotEmpty(t, g.groups, "families sharing a window must be grouped")
			if len(lits[0].text) >= 11 {
				require.NotNil(t, g.wide, "literals of 11 bytes or more have 8 bytes about each window")
			}
			var texts []string
			for _, l := range lits { // whole, at the end of a line and on their own
				texts = append(texts, l.text, "at the end: "+l.text, strings.ToUpper(l.text)+" at the start")
			}
			for range 20000 {
				texts = append(texts, gramLine(r, lits))
			}
			for _, text := range texts {
				got := g.scan(text, nil)
				slices.Sort(got)
				require.Equal(t, bruteGrams(lits, text), got, "line %q", text)
			}
		}
	}
}

// FuzzGrams compares the gram scanner, groups and all, with strings.Contains.
func FuzzGrams(f *testing.F) {
	sets := gramLiterals()
	var gs [2]*grams
	r := rand.New(rand.NewPCG(9, 10))
	for i, lits := range sets {
		gs[i] = newGrams(lits, nil)
		for range 10 {
			f.Add(gramLine(r, lits))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		for i, g := range gs {
			got := g.scan(text, nil)
			slices.Sort(got)
			require.Equal(t, bruteGrams(sets[i], text), got)
		}
	})
}

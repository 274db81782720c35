package matcher

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// families anchors families of entries on a literal their anchors share: one rule a
// service makes 45 anchors "WARN orders cache hit ratio 0.", "WARN payments cache hit
// ratio 0.", ... that a line is scanned for, each with its windows in the scanner, and
// a line naming a service finds its anchor and checks its rule. When lines hold the
// shared part (" cache hit ratio 0." and the tail after it) hardly more often than
// the family's anchors together, the family is anchored on it instead: the scanner
// looks for one literal, and the entries' own anchors become their keys (keyIndex),
// looked for only on a line holding the shared one and the clauses all of them have.
//
// anchors holds each entry's anchor clause (nil: none) and checks its other clauses;
// both are changed in place. often is how often lines hold a literal (measured on
// sample when there is one, else guessed).
func families(anchors []clause, checks [][]clause, minLen int, often func(literal) float64, sample []string, bytesSeen *[256]uint32) {
	subs := map[string][]int32{} // a substring of minLen bytes of a one-literal anchor → its entries
	for i, a := range anchors {
		if len(a) != 1 || a[0].fold || len(a[0].text) < minLen {
			continue
		}
		t := a[0].text
		for j := 0; j+minLen <= len(t); j++ {
			s := t[j : j+minLen]
			if list := subs[s]; len(list) == 0 || list[len(list)-1] != int32(i) {
				subs[s] = append(list, int32(i))
			}
		}
	}
	type candidate struct {
		s       string
		members []int32
	}
	var cands []candidate
	for s, m := range subs {
		if len(m) >= minKeyed {
			cands = append(cands, candidate{s, m})
		}
	}
	// The largest families first; the order of the map must not change the build.
	slices.SortFunc(cands, func(x, y candidate) int {
		if c := cmp.Compare(len(y.members), len(x.members)); c != 0 {
			return c
		}
		return strings.Compare(x.s, y.s)
	})
	moved := make([]bool, len(anchors))
	sigs := map[int32]string{}     // an entry's other clauses (alike)
	freqs := map[literal]float64{} // a shared literal's frequency: widening gives the same one for many substrings
	tried := map[string]bool{}     // member lists already tried: their substrings widen alike
	for _, c := range cands {
		var left []int32
		var key strings.Builder
		for _, i := range c.members {
			if !moved[i] {
				left = append(left, i)
				key.WriteString(strconv.Itoa(int(i)))
				key.WriteByte(',')
			}
		}
		if len(left) < minKeyed || tried[key.String()] {
			continue
		}
		tried[key.String()] = true
		for _, fam := range alike(left, checks, sigs) {
			if len(fam) < minKeyed {
				continue
			}
			shared, ok := familyAnchor(c.s, fam, anchors)
			if !ok {
				continue
			}
			own := 0.0
			for _, i := range fam {
				own += often(anchors[i][0])
			}
			// A line holding the shared literal costs about a find of an own anchor;
			// one holding the clauses all the family has besides costs a pass of
			// the line (keyIndex), about four.
			f, ok := freqs[shared]
			if !ok {
				f = frequency(shared, sample, often, bytesSeen)
				freqs[shared] = f
			}
			pass := f
			for _, c := range checks[fam[0]] {
				pass = min(pass, passRate(c, often))
			}
			if f+4*pass > 2*own {
				continue
			}
			for _, i := range fam {
				checks[i] = append(checks[i], anchors[i])
				anchors[i] = clause{shared}
				moved[i] = true
			}
		}
	}
}

// alike splits entries by the clauses they have besides their anchors: a family
// shares them all, so that its keyIndex checks them before its pass.
func alike(entries []int32, checks [][]clause, sigs map[int32]string) [][]int32 {
	var order []string
	by := map[string][]int32{}
	for _, i := range entries {
		sig, ok := sigs[i]
		if !ok {
			keys := make([]string, len(checks[i]))
			for k, c := range checks[i] {
				keys[k] = c.key()
			}
			slices.Sort(keys)
			sig = strings.Join(keys, "\x01")
			sigs[i] = sig
		}
		if by[sig] == nil {
			order = append(order, sig)
		}
		by[sig] = append(by[sig], i)
	}
	out := make([][]int32, len(order))
	for k, sig := range order {
		out[k] = by[sig]
	}
	return out
}

// familyAnchor widens s, found in the anchor of every entry of fam, as far as their
// anchors agree around it, keeping their tail when it ends them all and is the same.
// ok is false when the result is every entry's anchor already (they share it).
func familyAnchor(s string, fam []int32, anchors []clause) (literal, bool) {
	at := make([]int, len(fam))
	for k, i := range fam {
		at[k] = strings.Index(anchors[i][0].text, s)
	}
	lo, hi := 0, len(s) // the shared span, relative to each occurrence
	agree := func(off int) bool {
		var b byte
		for k, i := range fam {
			t, p := anchors[i][0].text, at[k]+off
			if p < 0 || p >= len(t) {
				return false
			}
			if k == 0 {
				b = t[p]
			} else if t[p] != b {
				return false
			}
		}
		return true
	}
	for agree(lo - 1) {
		lo--
	}
	for agree(hi) {
		hi++
	}
	first := anchors[fam[0]][0]
	shared := literal{text: first.text[at[0]+lo : at[0]+hi]}
	whole, suffix := true, true
	for k, i := range fam {
		l := anchors[i][0]
		whole = whole && at[k]+lo == 0 && at[k]+hi == len(l.text) && l.tail == first.tail
		suffix = suffix && at[k]+hi == len(l.text) && l.tail == first.tail
	}
	if whole {
		return literal{}, false
	}
	if suffix {
		shared.tail = first.tail
	}
	return shared, true
}

// frequency is the share of sample lines holding l (looked for by its rarest byte), or
// the guess of often without a sample.
func frequency(l literal, sample []string, often func(literal) float64, bytesSeen *[256]uint32) float64 {
	if sample == nil {
		return often(l)
	}
	c := newCheck(clause{l}, bytesSeen)
	n := 0
	for _, text := range sample {
		if c.containsAny(text) {
			n++
		}
	}
	return float64(n) / float64(len(sample)+1)
}

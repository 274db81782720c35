package matcher

import "slices"

// keyIndex stands in for the entries of an anchor many of them share (" HTTP/1.1\" 5"
// of a service's 5xx rule, for each of 45 services; " disk usage " of as many): a line
// holding the anchor would otherwise have each entry's other clauses checked, one
// search of the line each ("/orders/", "/payments/", ...), to pass one entry or none.
// Each entry has a key, the clause that tells it best from the anchor's other entries;
// one pass of an automaton over the line finds the keys it holds, and only the entries
// of those keys are checked. The candidates are the same; the work is one pass.
//
// Clauses every entry of the anchor has (the method alternation of the 5xx rules,
// "90%".."100%" of the disk usage ones) are checked first, once: a line failing one
// needs no pass.
type keyIndex struct {
	common []check    // clauses all the entries have
	dfa    *automaton // the keys' literals, folded (a superset: holds checks exactly)
	byLit  [][]int32  // automaton literal → entries keyed by it, sorted
	rest   []int32    // entries without a key, checked one by one
}

// minKeyed is the fewest entries an anchor needs for a keyIndex: below it, the checks
// one by one cost less than a pass of the line.
const minKeyed = 8

// keyIndexes makes the keyIndex of every anchor (entries lists each anchor's) with at
// least minKeyed entries whose keys tell them apart; nil for the others.
func (p *prefilter) keyIndexes(entries [][]int32) []*keyIndex {
	keyed := make([]*keyIndex, len(entries))
	for li, ids := range entries {
		if len(ids) >= minKeyed {
			keyed[li] = p.newKeyIndex(ids)
		}
	}
	return keyed
}

// newKeyIndex picks each entry's key among its checked clauses: the one whose literals
// the fewest other entries of the anchor hold (a line holding it is then checked for
// the fewest entries). It returns nil when the keys do not cut the entries to check
// to a quarter.
func (p *prefilter) newKeyIndex(ids []int32) *keyIndex {
	holders := map[literal]int{} // literal → entries of ids with a clause holding it
	for _, id := range ids {
		var mine []literal
		for _, c := range p.checks[id] {
			for _, l := range c.clause {
				if !slices.Contains(mine, l) {
					mine = append(mine, l)
					holders[l]++
				}
			}
		}
	}
	k := &keyIndex{}
	index := map[string]int32{}
	var texts []string
	visits := 0 // entries checked, summed over the entries' keys
	for _, id := range ids {
		best, bestShare := -1, 0
		for i, c := range p.checks[id] {
			share := 0
			for _, l := range c.clause {
				share += holders[l]
			}
			if best < 0 || share < bestShare {
				best, bestShare = i, share
			}
		}
		if best < 0 {
			k.rest = append(k.rest, id)
			continue
		}
		visits += bestShare
		for _, l := range p.checks[id][best].clause {
			t := asciiLower(l.text)
			at, ok := index[t]
			if !ok {
				at = int32(len(texts))
				index[t] = at
				texts = append(texts, t)
				k.byLit = append(k.byLit, nil)
			}
			if !slices.Contains(k.byLit[at], id) {
				k.byLit[at] = append(k.byLit[at], id)
			}
		}
	}
	keyed := len(ids) - len(k.rest)
	if keyed < minKeyed || visits*4 > keyed*keyed {
		return nil
	}
	for _, c := range p.checks[ids[0]] {
		if !slices.ContainsFunc(ids[1:], func(id int32) bool {
			return !slices.ContainsFunc(p.checks[id], func(o check) bool { return o.id == c.id })
		}) {
			k.common = append(k.common, c)
		}
	}
	k.dfa = newAutomaton(texts)
	return k
}

// keyScratch is how many keys one line's pass notes before spilling to the heap.
const keyScratch = 8

// candidates appends to dst the entries of the anchor text satisfies every other
// clause of, in no particular order (an entry with a key of several literals may come
// twice).
func (k *keyIndex) candidates(p *prefilter, text string, memo *clauseMemo, dst []int32) []int32 {
	for i := range k.common {
		if !k.common[i].holds(text, memo) {
			return dst
		}
	}
	var scratch [keyScratch]int32
	for _, at := range k.dfa.scan(text, scratch[:0]) {
		for _, id := range k.byLit[at] {
			if p.holds(id, text, memo) {
				dst = append(dst, id)
			}
		}
	}
	for _, id := range k.rest {
		if p.holds(id, text, memo) {
			dst = append(dst, id)
		}
	}
	return dst
}

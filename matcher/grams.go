package matcher

import (
	"math/bits"
	"slices"
)

// minGramLiteral is the shortest literal the gram scanner finds; shorter ones go to
// the automaton (or strings.Contains when they are few).
const minGramLiteral = 4

// maxStride caps how far apart the scanner probes; a wider stride needs more grams a
// literal (stride of them), which fills the filter.
const maxStride = 8

// grams finds which of a set of literals (each at least minGramLiteral bytes) a text
// holds, probing one 4-byte window every stride bytes instead of stepping an
// automaton byte by byte. Every literal is at least stride+3 bytes long, so each of
// its occurrences covers a probed window at one of its first stride offsets; those
// windows are what the filter holds. A probe is a load, a multiply and a bit test,
// with no dependency from one probe to the next; a window in the filter is then
// checked against the literals it belongs to.
//
// Windows are folded to lower case (every byte ORed with 0x20) on both sides: a
// folding literal is then found in any case, and an exact one is compared byte for
// byte after its window matched.
type grams struct {
	stride int
	shift  uint // hash → filter bits: the top shift.. bits of the product, twice
	mask   uint64
	filter []uint64
	// buckets: a window's entries are entries[start[b]:start[b+1]], b its hash's top
	// bucketBits bits.
	bucketShift uint
	bucketMask  uint64
	start       []uint32
	entries     []gramEntry
	lits        []literal
	// wide, when not nil, is a second Bloom filter, of 8 bytes about a window: a
	// window's literal is looked up only when the line holds one of its literals'
	// 8 bytes from the window (wideAfter) or from 4 bytes before it (wideBefore).
	// Lines hold a window of nearly every literal's ("tion", " htt", "\":\"c") far
	// more often than 8 of its bytes.
	wide      []uint64
	wideShift uint
	wideMask  uint64
	// groups stand for the entries of a window many literals share (see gramGroup);
	// a group's sub-buckets are entries[sub[base+k]:sub[base+k+1]].
	groups []gramGroup
	sub    []uint32
}

// gramGroup stands in a bucket, as one entry (n 0, lit its index), for the literals
// sharing a window that differ in bytes at the same distance from it: the 45
// `ERROR:  duplicate key value violates unique constraint "W_` of 45 service words W
// share "viol" and every window up to the quote. The bytes a line has there, its key
// (up to 8, folded as windows are), pick the sub-bucket holding the literals with
// that key, so a line holding the window is compared with one literal or none, not
// with all of them.
type gramGroup struct {
	mask  uint64 // the key's bytes: k of them
	r     int8   // where the key starts, from the probe
	k     uint8
	shift uint8 // key hash → sub-bucket: the top 64-shift bits
	base  uint32
}

// minGroup is the fewest literals sharing a window that get a group.
const minGroup = 4

// gramEntry says: when the folded window at a probe is gram, literal lit (n bytes)
// may start off bytes before it. head is the literal's first 8 bytes (folded when it
// folds, zero past its end), to turn most false alarms away without a call. 24 bytes:
// the entries of a thousand rules stay in the second-level cache.
type gramEntry struct {
	head uint64
	gram uint32
	lit  int32
	off  uint8 // < maxLiteralLen
	n    uint8 // ≤ maxLiteralLen
	at   uint8 // where in the literal head starts
	fold bool
}

// mask selects the bytes of head the literal has.
func (e *gramEntry) mask() uint64 {
	if e.n >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*e.n) - 1
}

// gramMul is Fibonacci hashing: the top bits of the product mix all four bytes. The
// filter takes two bit positions from them (a Bloom filter with two hashes), the
// buckets the bits below.
const gramMul = 0x9E3779B97F4A7C15

func gramHash(w uint32) uint64 { return uint64(w) * gramMul }

// gramSlots is the size of a window count table; gramSlot is a window's place in it.
const gramSlots = 1 << 16

func gramSlot(w uint32) uint32 { return uint32(gramHash(w) >> 48) }

// countWindows counts, for each slot, the sample lines' windows (every offset).
func countWindows(sample []string) []uint32 {
	seen := make([]uint32, gramSlots)
	for _, text := range sample {
		for i := 0; i+4 <= len(text); i++ {
			seen[gramSlot(foldGram(text, i))]++
		}
	}
	return seen
}

func foldGram(s string, i int) uint32 {
	return (uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24) | 0x20202020
}

// load64 reads 8 bytes of s at i, little-endian; i+8 must not pass the end.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const fold64 = 0x2020202020202020

// head returns (up to) 8 bytes of lit from at and the mask of those it has.
func head(lit literal, at int) (h, mask uint64) {
	for i := 0; at+i < len(lit.text) && i < 8; i++ {
		h |= uint64(lit.text[at+i]) << (8 * i)
		mask |= 0xff << (8 * i)
	}
	if lit.fold {
		h |= fold64 & mask
	}
	return h, mask
}

// newGrams builds the scanner for lits; every literal must be at least minGramLiteral
// bytes long. seen, when not nil, counts how often sample lines hold each window (by
// gramSlot); windows are then picked by it.
func newGrams(lits []literal, seen []uint32) *grams {
	shortest := maxStride + 3
	for _, l := range lits {
		shortest = min(shortest, len(l.text))
	}
	g := &grams{stride: shortest - 3, lits: lits}
	all := g.windows(seen)
	g.buildWide(all)
	es, members := g.group(all)
	// About 32 filter bits a window keep a probe's false alarm rate near 1/32, and the
	// filter within 16 KiB, a part of the first-level cache, up to 4096 windows.
	filterBits := max(12, min(17, bits.Len(uint(len(es)*32))))
	g.shift = uint(64 - filterBits)
	g.mask = 1<<filterBits - 1
	g.filter = make([]uint64, 1<<filterBits/64)
	bucketBits := max(4, min(16, bits.Len(uint(len(es)/2))))
	g.bucketShift = uint(64 - 2*filterBits - bucketBits)
	g.bucketMask = 1<<bucketBits - 1
	g.start = make([]uint32, 1<<bucketBits+1)
	for _, e := range es {
		h := gramHash(e.gram)
		for _, bit := range [2]uint64{h >> g.shift, h >> (g.shift - uint(filterBits)) & g.mask} {
			g.filter[bit/64] |= 1 << (bit % 64)
		}
		g.start[h>>g.bucketShift&g.bucketMask+1]++
	}
	for b := 1; b < len(g.start); b++ {
		g.start[b] += g.start[b-1]
	}
	total := len(es)
	for _, in := range members {
		total += len(in)
	}
	g.entries = make([]gramEntry, len(es), total)
	fill := append([]uint32(nil), g.start[:len(g.start)-1]...)
	for _, e := range es {
		b := gramHash(e.gram) >> g.bucketShift & g.bucketMask
		g.entries[fill[b]] = e
		fill[b]++
	}
	// Each group's members follow, sub-bucket by sub-bucket.
	for gi := range g.groups {
		gr := &g.groups[gi]
		n := uint32(1) << (64 - gr.shift)
		sub := g.sub[gr.base : gr.base+n+1]
		for _, e := range members[gi] {
			sub[gr.slot(g.key(gr, e))+1]++
		}
		sub[0] = uint32(len(g.entries))
		for k := 1; k < len(sub); k++ {
			sub[k] += sub[k-1]
		}
		g.entries = g.entries[:sub[n]]
		fill := append([]uint32(nil), sub[:n]...)
		for _, e := range members[gi] {
			k := gr.slot(g.key(gr, e))
			g.entries[fill[k]] = e
			fill[k]++
		}
	}
	return g
}

// Multipliers hashing the 8 bytes from a window and from 4 bytes before it.
const (
	wideAfter  = 0x9E3779B97F4A7C15
	wideBefore = 0xC2B2AE3D27D4EB4F
)

// wideKey returns the 8 bytes of e's literal that wide holds for it, folded, and
// the multiplier to hash them with; ok is false when the literal has no 8 bytes
// from its window or from 4 before it.
func (g *grams) wideKey(e gramEntry) (key, mul uint64, ok bool) {
	text, off := g.lits[e.lit].text, int(e.off)
	switch {
	case off+8 <= len(text):
		return load64(text, off) | fold64, wideAfter, true
	case off >= 4 && off+4 <= len(text):
		return load64(text, off-4) | fold64, wideBefore, true
	}
	return 0, 0, false
}

// buildWide fills the wide filter with the 8 bytes of every entry; it leaves it nil
// when some literal is too short to have them.
func (g *grams) buildWide(es []gramEntry) {
	keys := map[[2]uint64]bool{}
	for _, e := range es {
		key, mul, ok := g.wideKey(e)
		if !ok {
			return
		}
		keys[[2]uint64{key, mul}] = true
	}
	wideBits := max(10, min(17, bits.Len(uint(len(keys)*12))))
	g.wideShift = uint(64 - wideBits)
	g.wideMask = 1<<wideBits - 1
	g.wide = make([]uint64, 1<<wideBits/64)
	for k := range keys {
		h := k[0] * k[1]
		for _, bit := range [2]uint64{h >> g.wideShift, h >> (g.wideShift - uint(wideBits)) & g.wideMask} {
			g.wide[bit/64] |= 1 << (bit % 64)
		}
	}
}

// wideHas reports whether the wide filter may hold the key hashed to h.
func (g *grams) wideHas(h uint64) bool {
	b1, b2 := h>>g.wideShift, h>>(g.wideShift-uint(bits.Len64(g.wideMask)))&g.wideMask
	return g.wide[b1/64]&(1<<(b1%64)) != 0 && g.wide[b2/64]&(1<<(b2%64)) != 0
}

// wideHolds reports whether text may hold, about the window at q, the 8 bytes of
// one of the window's literals.
func (g *grams) wideHolds(text string, q int) bool {
	if g.wide == nil {
		return true
	}
	if q+8 <= len(text) && g.wideHas((load64(text, q)|fold64)*wideAfter) {
		return true
	}
	return q >= 4 && q+4 <= len(text) && g.wideHas((load64(text, q-4)|fold64)*wideBefore)
}

// group replaces the entries of each window at least minGroup literals share with a
// group entry where a key tells them apart (see gramGroup), and returns the entries
// left in the buckets and each group's members. Members whose bytes do not cover the
// best key stay in the buckets, beside the group.
func (g *grams) group(es []gramEntry) ([]gramEntry, [][]gramEntry) {
	byGram := map[uint32][]gramEntry{}
	for _, e := range es {
		byGram[e.gram] = append(byGram[e.gram], e)
	}
	var kept []gramEntry
	var members [][]gramEntry
	for _, e := range es {
		sharers := byGram[e.gram]
		if sharers == nil {
			continue // grouped, or placed, with its first sharer
		}
		delete(byGram, e.gram)
		if len(sharers) < minGroup {
			kept = append(kept, sharers...)
			continue
		}
		gr, in, out, ok := g.bestGroup(sharers)
		if !ok {
			kept = append(kept, sharers...)
			continue
		}
		gr.base = uint32(len(g.sub))
		n := 1 << (64 - gr.shift)
		g.sub = append(g.sub, make([]uint32, n+1)...)
		kept = append(kept, gramEntry{gram: e.gram, lit: int32(len(g.groups))})
		kept = append(kept, out...)
		g.groups = append(g.groups, gr)
		members = append(members, in)
	}
	return kept, members
}

// bestGroup chooses the key for literals sharing a window: the place and length (up
// to 8 bytes, inside each member) that leave a line holding the window and one
// member's key the fewest entries to compare: those the key does not cover, and those
// with the same key. ok is false when a group saves little.
func (g *grams) bestGroup(es []gramEntry) (gr gramGroup, in, out []gramEntry, ok bool) {
	lo, hi := 0, 0 // the span the literals take around the probe
	for _, e := range es {
		lo = min(lo, -int(e.off))
		hi = max(hi, int(e.n)-int(e.off))
	}
	bestCost := float64(len(es)) / 2 // a group must at least halve the walk
	var keys []uint64
	for r := lo; r < hi; r++ {
		if !g.differ(es, r) {
			continue // a key starting with a byte all members have wastes it
		}
		// The longest key some member covers, and the longest all members starting
		// by r cover: keys between are seldom better.
		all := 8
		for _, e := range es {
			if r >= -int(e.off) {
				all = min(all, int(e.n)-int(e.off)-r)
			}
		}
		for i, k := range [2]int{min(8, hi-r), all} {
			if k < 1 || i == 1 && k == min(8, hi-r) {
				continue
			}
			cand := gramGroup{r: int8(r), k: uint8(k), mask: 1<<(8*k) - 1}
			if k == 8 {
				cand.mask = ^uint64(0)
			}
			keys = keys[:0]
			for _, e := range es {
				if cand.covers(e) {
					keys = append(keys, g.key(&cand, e))
				}
			}
			if len(keys) == 0 {
				continue
			}
			slices.Sort(keys)
			same := 0 // the sum over keys of members², found by runs of equal keys
			for i := 0; i < len(keys); {
				j := i + 1
				for j < len(keys) && keys[j] == keys[i] {
					j++
				}
				same += (j - i) * (j - i)
				i = j
			}
			cost := float64(len(es)-len(keys)) + float64(same)/float64(len(keys))
			if cost < bestCost {
				bestCost, gr, ok = cost, cand, true
			}
		}
	}
	if !ok {
		return gr, nil, nil, false
	}
	for _, e := range es {
		if gr.covers(e) {
			in = append(in, e)
		} else {
			out = append(out, e)
		}
	}
	subBits := max(1, bits.Len(uint(2*len(in)-1)))
	gr.shift = uint8(64 - subBits)
	return gr, in, out, true
}

// differ reports whether the members of es holding a byte at r from the probe have
// different bytes there (folded).
func (g *grams) differ(es []gramEntry, r int) bool {
	first := -1
	for _, e := range es {
		at, text := int(e.off)+r, g.lits[e.lit].text
		if at < 0 || at >= len(text) {
			continue
		}
		if b := int(text[at] | 0x20); first < 0 {
			first = b
		} else if b != first {
			return true
		}
	}
	return false
}

// covers reports whether e's literal holds the key's bytes.
func (gr *gramGroup) covers(e gramEntry) bool {
	return int(gr.r) >= -int(e.off) && int(gr.r)+int(gr.k) <= int(e.n)-int(e.off)
}

// key is the key of e's literal (which gr covers): its bytes at r from the probe,
// folded.
func (g *grams) key(gr *gramGroup, e gramEntry) uint64 {
	text := g.lits[e.lit].text
	at := int(e.off) + int(gr.r)
	var x uint64
	for i := range int(gr.k) {
		x |= uint64(text[at+i]) << (8 * i)
	}
	return (x | fold64) & gr.mask
}

// slot is the sub-bucket of a key.
func (gr *gramGroup) slot(key uint64) uint32 { return uint32(key * gramMul >> gr.shift) }

// windows picks, for every literal, stride consecutive windows to put in the filter:
// any stride consecutive offsets will do, so the ones lines hold least are taken:
// by seen when sample lines were counted, else those fewest other literals share. A
// window every literal of a service has ("orde" for "/orders/", "orders-", "orders:
// slow query (") would otherwise send each line naming the service to compare all of
// them, and ".1\" " in ` HTTP/1.1" 5` every nginx line.
func (g *grams) windows(seen []uint32) []gramEntry {
	// holders counts, by gramSlot, the literals holding a window at any offset (a
	// slot some windows share counts for all of them: only choices change).
	holders := make([]uint32, gramSlots)
	var mine []uint32 // one literal's slots
	for _, l := range g.lits {
		mine = mine[:0]
		for off := 0; off+4 <= len(l.text); off++ {
			if slot := gramSlot(foldGram(l.text, off)); !slices.Contains(mine, slot) {
				mine = append(mine, slot)
				holders[slot]++
			}
		}
	}
	var es []gramEntry
	for i, l := range g.lits {
		best, bestCost := 0, [2]int{-1, -1}
		for k := 0; k+g.stride-1+4 <= len(l.text); k++ {
			var cost [2]int // the most seen window, then the most shared
			for off := k; off < k+g.stride; off++ {
				w := foldGram(l.text, off)
				if seen != nil {
					cost[0] = max(cost[0], int(seen[gramSlot(w)]))
				}
				cost[1] = max(cost[1], int(holders[gramSlot(w)]))
			}
			if bestCost[0] < 0 || cost[0] < bestCost[0] || cost[0] == bestCost[0] && cost[1] < bestCost[1] {
				best, bestCost = k, cost
			}
		}
		at := headAt(l, holders)
		h, _ := head(l, at)
		for off := best; off < best+g.stride; off++ {
			es = append(es, gramEntry{head: h, gram: foldGram(l.text, off),
				lit: int32(i), off: uint8(off), n: uint8(len(l.text)), at: uint8(at), fold: l.fold})
		}
	}
	return es
}

// headAt picks the 8 bytes of l that tell it best from the other literals: those whose
// windows the fewest literals share (the last such), so that literals alike but for a
// service word or a code ("autovacuum worker timed out [E0500]: ", "... [E0501]: ")
// are told apart without a full comparison.
func headAt(l literal, holders []uint32) int {
	best, bestShare := 0, -1
	for at := 0; at+8 <= len(l.text); at++ {
		share := 0
		for off := at; off+4 <= at+8; off++ {
			share = max(share, int(holders[gramSlot(foldGram(l.text, off))]))
		}
		if bestShare < 0 || share <= bestShare {
			best, bestShare = at, share
		}
	}
	return best
}

// scan appends to found the index of every literal text holds, each once.
func (g *grams) scan(text string, found []int32) []int32 {
	filter, shift, shift2, mask, stride := g.filter, g.shift, g.shift-uint(bits.Len64(g.mask)), g.mask, g.stride
	for q := 0; q+4 <= len(text); q += stride {
		w := foldGram(text, q)
		h := gramHash(w)
		if b := h >> shift; filter[b/64]&(1<<(b%64)) == 0 {
			continue
		}
		if b := h >> shift2 & mask; filter[b/64]&(1<<(b%64)) != 0 && g.wideHolds(text, q) {
			found = g.check(text, q, w, found)
		}
	}
	return found
}

// check looks up the literals whose window w is at q and compares them with text.
func (g *grams) check(text string, q int, w uint32, found []int32) []int32 {
	b := gramHash(w) >> g.bucketShift & g.bucketMask
	for i := g.start[b]; i < g.start[b+1]; i++ {
		e := &g.entries[i]
		switch {
		case e.gram != w:
		case e.n == 0:
			found = g.checkGroup(text, q, &g.groups[e.lit], found)
		case g.at(text, q, e):
			found = addOnce(found, e.lit)
		}
	}
	return found
}

// checkGroup compares text with the members of group gr (window at q) whose key text
// has.
func (g *grams) checkGroup(text string, q int, gr *gramGroup, found []int32) []int32 {
	p := q + int(gr.r)
	var x uint64
	switch {
	case p < 0:
		return found // every member starts at or before p
	case p+8 <= len(text):
		x = load64(text, p)
	case p+int(gr.k) <= len(text):
		for i := p; i < len(text); i++ {
			x |= uint64(text[i]) << (8 * (i - p))
		}
	default:
		return found // every member ends at or after p+k
	}
	k := gr.base + gr.slot((x|fold64)&gr.mask)
	for i := g.sub[k]; i < g.sub[k+1]; i++ {
		if e := &g.entries[i]; g.at(text, q, e) {
			found = addOnce(found, e.lit)
		}
	}
	return found
}

// at reports whether text holds e's literal where e's window would be at q (and its
// tail after it).
func (g *grams) at(text string, q int, e *gramEntry) bool {
	p := q - int(e.off)
	if p < 0 || p+int(e.n) > len(text) {
		return false
	}
	if p+int(e.at)+8 <= len(text) {
		x := load64(text, p+int(e.at))
		if e.fold {
			x |= fold64
		}
		if x&e.mask() != e.head {
			return false
		}
	}
	s, l := text[p:p+int(e.n)], &g.lits[e.lit]
	if e.fold {
		return equalFold(s, l.text)
	}
	return (len(s) <= 8 && p+int(e.at)+8 <= len(text) || s == l.text) && (l.tail == "" || tailAt(text, p+len(s), l.tail))
}

// equalFold reports whether s equals lit ignoring ASCII case; lit is lower-case.
func equalFold(s, lit string) bool {
	for i := 0; i < len(lit); i++ {
		if lower(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

package matcher

// automaton finds which of a set of literals occur in a text, ignoring ASCII case, in
// one pass and without allocating: an Aho-Corasick automaton compiled to a DFA over
// byte classes. Ignoring case for every literal only adds candidates, never loses one;
// the regexp decides afterwards.
//
// The aho-corasick module the design names allocates on every search (the byte copy
// of the text, its iterator and prefilter state: five objects a line), which the hot
// path cannot afford, hence this small table-driven one.
type automaton struct {
	// class maps a byte to its column: bytes no literal holds share column 0, upper
	// case ASCII letters share their lower-case column.
	class  [256]uint8
	stride int32
	// next holds, per state, one target a column: the target state premultiplied by
	// stride, bit-inverted (negative) when literals end there, so the scan divides only
	// on a find.
	next []int32
	// out[state] lists the literals ending at the state (own and by suffix), as
	// outs[outStart[state]:outStart[state+1]].
	outStart []int32
	outs     []int32
}

// newAutomaton builds the automaton for lits, which must already be lower-cased.
func newAutomaton(lits []string) *automaton {
	a := &automaton{}
	cols := 1
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if b := l[i]; a.class[b] == 0 {
				a.class[b] = uint8(cols)
				cols++
			}
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		a.class[b] = a.class[b+'a'-'A']
	}
	a.stride = int32(cols)
	own := a.buildTrie(lits)
	fail := a.link()
	a.collectOutputs(own, fail)
	a.markOutputs()
	return a
}

// buildTrie lays the literals into a trie; missing transitions are -1 until link.
func (a *automaton) buildTrie(lits []string) [][]int32 {
	a.next = a.newState(nil)
	own := [][]int32{nil}
	for id, l := range lits {
		s := int32(0)
		for i := 0; i < len(l); i++ {
			at := s*a.stride + int32(a.class[l[i]])
			if a.next[at] < 0 {
				a.next[at] = int32(len(own)) * a.stride
				a.next = a.newState(a.next)
				own = append(own, nil)
			}
			s = a.next[at] / a.stride
		}
		own[s] = append(own[s], int32(id))
	}
	return own
}

func (a *automaton) newState(next []int32) []int32 {
	for range a.stride {
		next = append(next, -1)
	}
	return next
}

// link computes suffix links breadth first and fills every missing transition with
// the one of the state's suffix, which turns the trie into a DFA. It returns the
// suffix link of each state.
func (a *automaton) link() []int32 {
	states := int32(len(a.next)) / a.stride
	fail := make([]int32, states)
	queue := make([]int32, 0, states)
	for c := range a.stride {
		if t := a.next[c]; t < 0 {
			a.next[c] = 0
		} else {
			queue = append(queue, t/a.stride)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := range a.stride {
			at := s*a.stride + c
			viaFail := a.next[fail[s]*a.stride+c]
			if t := a.next[at]; t >= 0 {
				fail[t/a.stride] = viaFail / a.stride
				queue = append(queue, t/a.stride)
			} else {
				a.next[at] = viaFail
			}
		}
	}
	return fail
}

// collectOutputs gives each state its own literals plus those of its suffix chain.
func (a *automaton) collectOutputs(own [][]int32, fail []int32) {
	states := len(own)
	a.outStart = make([]int32, states+1)
	for s := range states {
		a.outStart[s] = int32(len(a.outs))
		for f := int32(s); f != 0; f = fail[f] {
			a.outs = append(a.outs, own[f]...)
		}
	}
	a.outStart[states] = int32(len(a.outs))
}

// markOutputs inverts every transition into a state where literals end.
func (a *automaton) markOutputs() {
	for i, t := range a.next {
		if st := t / a.stride; a.outStart[st] != a.outStart[st+1] {
			a.next[i] = ^t
		}
	}
}

// scan appends to found the id of every literal occurring in text, each once.
func (a *automaton) scan(text string, found []int32) []int32 {
	next, class := a.next, &a.class
	s := int32(0)
	for i := 0; i < len(text); i++ {
		s = next[s+int32(class[text[i]])]
		if s < 0 {
			s = ^s
			st := s / a.stride
			for _, id := range a.outs[a.outStart[st]:a.outStart[st+1]] {
				found = addOnce(found, id)
			}
		}
	}
	return found
}

// addOnce appends id unless present; the lists are the few literals one line holds.
func addOnce(list []int32, id int32) []int32 {
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

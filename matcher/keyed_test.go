package matcher

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/bench/corpus"
	"github.com/cowbell-sidecar/cowbell/rules"
)

// withoutKeys is p with every anchor's entries checked one by one.
func withoutKeys(p *prefilter) *prefilter {
	q := *p
	q.keyed = make([]*keyIndex, len(p.keyed))
	return &q
}

// TestKeyedSameCandidates: looking an anchor's entries up by their keys gives the
// candidates checking them one by one gives, on the benchmark's rules (whose service
// families share anchors), fitted and not, over ordinary lines, incidents and near
// misses with their case flipped.
func TestKeyedSameCandidates(t *testing.T) {
	rs := corpusAndPack(t)
	m := newMatcher(t, rs...)
	g, r := corpus.NewGen(17), rand.New(rand.NewPCG(7, 8))
	for i, p := range []*prefilter{m.pre, m.Tune(corpusSample()).pre} {
		keyed := 0
		for _, k := range p.keyed {
			if k != nil {
				keyed++
			}
		}
		require.GreaterOrEqual(t, keyed, []int{3, 10}[i], "the service families' anchors are keyed")
		plain := withoutKeys(p)
		for i := range 3000 {
			text := g.Line()
			switch i % 4 {
			case 1:
				text = g.Incident()
			case 2:
				text = mutate(r, g.Incident())
			case 3:
				text = strings.ToUpper(text)
			}
			require.Equal(t, plain.candidates(text, nil, nil), p.candidates(text, nil, nil), "line %q", text)
		}
	}
}

// TestKeyedEntryOnce: a line holding two literals of one entry's key (both of
// "-primary-" and "-replica-") makes it a candidate once, and the rule fires once.
func TestKeyedEntryOnce(t *testing.T) {
	services := []string{"orders", "payments", "users", "billing", "search", "cart", "auth", "media", "feeds", "chat"}
	var list []string
	for _, w := range services {
		list = append(list, w+`-(primary|replica)-[0-9]+ replication lag [0-9]{4,} ms`)
	}
	var sample []string
	for i := range 400 {
		sample = append(sample, fmt.Sprintf("%s-primary-%d connected", services[i%len(services)], i))
	}
	sample = append(sample, "orders-primary-1 replication lag 20 ms")
	m := newMatcher(t, ruleList(list)...).Tune(sample)
	require.NotNil(t, m.pre.keyed[anchorOf(t, m.pre, " replication lag ")], "the ten rules share an anchor, keyed")
	text := "orders-replica-2 up, orders-primary-1 replication lag 12000 ms"
	require.Equal(t, []int32{0}, m.pre.candidates(text, nil, nil))
	require.Equal(t, []string{"r0"}, ids(m.Match(line(text), nil)))
	text = "cart-primary-1 and orders-replica-2: cart-replica-3 replication lag 1200 ms"
	require.Equal(t, []int32{0, 5}, m.pre.candidates(text, nil, nil))
	require.Equal(t, []string{"r5"}, ids(m.Match(line(text), nil)), "orders-replica-2 is not followed by the lag")
}

// ruleList makes rule ri of the ith pattern.
func ruleList(ps []string) []*rules.Rule {
	var rs []*rules.Rule
	for i, p := range ps {
		rs = append(rs, anyRule(fmt.Sprint("r", i), p))
	}
	return rs
}

// anchorOf is the index of anchor literal text.
func anchorOf(t *testing.T, p *prefilter, text string) int {
	t.Helper()
	for i, l := range p.lits {
		if l.text == text {
			return i
		}
	}
	t.Fatalf("no anchor %q among %d", text, len(p.lits))
	return -1
}

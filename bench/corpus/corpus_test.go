package corpus

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTranslate checks that every tool's form of every rule matches exactly the lines
// Go's regexp matches with the rule as written: incident lines of the rule's own
// template and ordinary traffic.
func TestTranslate(t *testing.T) {
	rs, err := RuleSet(1000)
	require.NoError(t, err)
	g := NewGen(7)
	var ordinary []string
	for range 100 {
		ordinary = append(ordinary, g.Ordinary(), g.packIncident())
	}
	for i, r := range rs {
		lines := ordinary
		if i >= 10 {
			tpl := (i - 10) / len(services)
			for _, w := range services {
				lines = append(lines[:len(lines):len(lines)], g.serviceIncident(tpl, w))
			}
		}
		want := regexp.MustCompile(r.Pattern)
		for _, f := range []Flavor{Rust, ERE, Mtail} {
			p, err := Translate(r.Pattern, f)
			require.NoError(t, err)
			if f == Mtail {
				p = strings.ReplaceAll(p, `\/`, "/")
			}
			got, err := regexp.Compile(p)
			require.NoError(t, err, "%s Flavor %d: %s", r.ID, f, p)
			for _, l := range lines {
				require.Equal(t, want.MatchString(l), got.MatchString(l), "%s Flavor %d: %s on %q", r.ID, f, p, l)
			}
		}
	}
}

// TestIncidentLines checks that the incident lines fire the rule they are made for,
// and that ordinary lines fire none of the service rules.
func TestIncidentLines(t *testing.T) {
	rs, err := RuleSet(1000)
	require.NoError(t, err)
	g := NewGen(3)
	for i, r := range rs[10:] {
		tpl, w := i/len(services), services[i%len(services)]
		re := regexp.MustCompile(r.Pattern)
		l := g.serviceIncident(tpl, w)
		require.True(t, re.MatchString(l), "%s: %q", r.ID, l)
	}
	pack := make([]*regexp.Regexp, 10)
	for i := range pack {
		pack[i] = regexp.MustCompile(rs[i].Pattern)
	}
	for range 200 {
		l := g.packIncident()
		hit := false
		for _, re := range pack {
			hit = hit || re.MatchString(l)
		}
		require.True(t, hit, "%q fires no pack rule", l)
	}
	var all []*regexp.Regexp
	for _, r := range rs {
		all = append(all, regexp.MustCompile(r.Pattern))
	}
	for range 100 {
		l := g.Ordinary()
		for j, re := range all {
			require.False(t, re.MatchString(l), "%s fires on ordinary %q", rs[j].ID, l)
		}
	}
}

// TestLineLength keeps the corpus at about 150 bytes a line, starting with a plain line.
func TestLineLength(t *testing.T) {
	g := NewGen(1)
	total, n := 0, 20000
	for i := range n {
		l := g.Line()
		if i == 0 {
			require.NotEqual(t, byte('{'), l[0])
		}
		total += len(l)
	}
	avg := total / n
	require.True(t, avg >= 130 && avg <= 170, "average line %d bytes", avg)
}

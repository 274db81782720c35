package matcher

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequiredLiterals(t *testing.T) {
	exact := func(ss ...string) []literal {
		out := make([]literal, len(ss))
		for i, s := range ss {
			out[i] = literal{text: s}
		}
		return out
	}
	fold := func(ss ...string) []literal {
		out := make([]literal, len(ss))
		for i, s := range ss {
			out[i] = literal{text: s, fold: true}
		}
		return out
	}
	tests := []struct {
		pattern string
		want    []literal // nil: always a candidate
	}{
		{"Cannot allocate memory", exact("Cannot allocate memory")},
		{"fork: (?P<error>Cannot allocate memory)", exact("Cannot allocate memory")},
		{`Killed process (?P<pid>\d+) \((?P<comm>[^)]+)\)`, exact("Killed process ")},
		{"BGSAVE failed|fork failed", exact("BGSAVE failed", "fork failed")},
		{"(?:out of memory|oom-kill):", exact("ut of memory", "om-kill")}, // the parser factors out "o"
		{"[Cc]annot allocate", exact("annot allocate")},
		{"(?i)Out of Memory", fold("out of memory")},
		{"(?i)killed", fold("illed")},           // k also matches the Kelvin sign
		{"(?i)processes", fold("proce")},        // s also matches the long s
		{"(?i)mémoire épuisée", fold("moire ")}, // é has a non-ASCII upper case
		{"mémoire épuisée", exact("mémoire épuisée")},
		{"bad \uFFFD byte", exact(" byte")}, // U+FFFD matches any invalid byte
		{"(?:a|b)+ overcommit", exact(" overcommit")},
		{"(overcommit)+", exact("overcommit")},
		{"(?:overcommit){2,3}", exact("overcommit")},
		{strings.Repeat("0123456789", 7), exact(strings.Repeat("0123456789", 6) + "0123")},
		{"x?y", exact("y")},
		{`^\d+$`, nil},
		{"(?:overcommit)?", nil},
		{"fork|.*", nil},
		{"", nil},
		{"(", nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, ok := requiredLiterals(tt.pattern)
			require.Equal(t, tt.want != nil, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestContainsFold(t *testing.T) {
	tests := []struct {
		s, lit string
		want   bool
	}{
		{"Out Of MEMORY here", "of memory", true},
		{"oom", "oom", true},
		{"oo", "oom", false},
		{"anything", "", true},
		{"ÉTÉ", "été", false}, // only ASCII folds
		{"xxOoM", "oom", true},
	}
	for _, tt := range tests {
		t.Run(tt.s+"/"+tt.lit, func(t *testing.T) {
			require.Equal(t, tt.want, containsFold(tt.s, tt.lit))
		})
	}
}

func TestAutomaton(t *testing.T) {
	lits := []string{"he", "she", "his", "hers", "memory", "y"}
	a := newAutomaton(lits)
	tests := []struct {
		text string
		want []string
	}{
		{"USHERS", []string{"she", "he", "hers"}},
		{"his memory", []string{"his", "memory", "y"}},
		{"the end", []string{"he"}},
		{"", nil},
		{"\xff\x00 zzz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var got []string
			for _, id := range a.scan(tt.text, nil) {
				got = append(got, lits[id])
			}
			require.Equal(t, tt.want, got)
		})
	}
}

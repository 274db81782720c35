package matcher

import (
	"math/rand/v2"
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
		{"fork: (?P<error>Cannot allocate memory)", exact("fork: Cannot allocate memory")}, // a capture of a literal is a literal
		{`Killed process (?P<pid>\d+) \((?P<comm>[^)]+)\)`, exact("Killed process ")},
		{"BGSAVE failed|fork failed", exact("BGSAVE failed", "fork failed")},
		{"(?:out of memory|oom-kill):", exact("out of memory:", "oom-kill:")},
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

// TestFactors: every clause a match must satisfy, runs of small classes and
// alternations expanded, literals tailed with the classes after them, and no clause
// another one implies.
func TestFactors(t *testing.T) {
	lits := func(ss ...string) clause {
		out := make(clause, len(ss))
		for i, s := range ss {
			out[i] = literal{text: s}
		}
		return out
	}
	digit := "0123456789"
	tailed := func(text string, classes ...string) clause {
		var tail []byte
		for _, c := range classes {
			var bits [tailClass]byte
			for i := 0; i < len(c); i++ {
				bits[c[i]>>3] |= 1 << (c[i] & 7)
			}
			tail = append(tail, bits[:]...)
		}
		return clause{{text: text, tail: string(tail)}}
	}
	tests := []struct {
		pattern string
		want    []clause
	}{
		{`(GET|POST) /api/v[0-9]+/orders/[0-9]+ HTTP/1\.[01]" 5[0-9][0-9]`, []clause{ // at most 16 strings
			lits("/orders/"), lits("GET /api/v", "POST /api/v"), lits(` HTTP/1.0" 5`, ` HTTP/1.1" 5`),
			tailed(" /api/v", digit), tailed("/orders/", digit),
			tailed(" HTTP/1.", "01", `"`, " ", "5", digit, digit), tailed(`" 5`, digit, digit),
		}},
		{`ERROR .*connection refused to orders-[0-9]+:[0-9]+`, []clause{lits("ERROR "), lits("connection refused to orders-"), lits(":"),
			tailed("connection refused to orders-", digit)}}, // one digit at least, then more or not
		{`level=(?:error|fatal) msg`, []clause{lits("level=error msg", "level=fatal msg")}},
		{`orders: TLS handshake (failed|timed out) with [0-9.]+`, []clause{ // a long run times a few alternatives
			lits("orders: TLS handshake failed with ", "orders: TLS handshake timed out with "), tailed(" with ", digit+".")}},
		{`disk usage (9[0-9]|100)%`, []clause{lits("disk usage "), // long enough: not multiplied by 11
			lits("90%", "91%", "92%", "93%", "94%", "95%", "96%", "97%", "98%", "99%", "100%")}},
		{`"status":5[0-9]{2}`, []clause{lits(`"status":5`), tailed(`"status":5`, digit, digit)}},
		{`lag (?P<ms>[0-9]{4,}) ms`, []clause{lits("lag "), lits(" ms"), tailed("lag ", digit, digit, digit, digit)}},
		{`cache hit ratio 0\.[0-4]\d x[0-9]{20}`, []clause{lits("cache hit ratio 0."), // at most maxTail classes
			lits("0 x", "1 x", "2 x", "3 x", "4 x", "5 x", "6 x", "7 x", "8 x", "9 x"),
			tailed("cache hit ratio 0.", "01234", digit, " ", "x", digit, digit, digit, digit),
			tailed(" x", digit, digit, digit, digit, digit, digit, digit, digit)}},
		{`(?i)cache hit ratio 0\.[0-4]`, []clause{{{text: "cache hit ratio 0.", fold: true}}}}, // folding literals get no tail
		{`cache hit ratio [0-9é]`, []clause{lits("cache hit ratio ")}},                         // nor one with a class past ASCII
		{`a(?i)bc`, []clause{lits("a"), {{text: "bc", fold: true}}}},                           // folding pieces are not expanded
		{`x?`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			require.Equal(t, tt.want, factors(tt.pattern))
		})
	}
}

// TestContainsTailed: some occurrence of the text must be followed by the tail's
// classes, within the line; bytes past ASCII are in no class.
func TestContainsTailed(t *testing.T) {
	lag := factors(`lag [0-9]{4,} ms`)[2][0]
	require.NotEmpty(t, lag.tail)
	for text, want := range map[string]bool{
		"lag 12000 ms":                 true,
		"lag 1200":                     true,
		"lag 120 ms, lag 1200 ms":      true, // the second occurrence
		"lag 120 ms":                   false,
		"lag 123":                      false, // the line ends inside the tail
		"lag 12\xff3 ms":               false,
		"lag \u0661\u0662\u0663\u0664": false, // Arabic-Indic digits are not [0-9]
		"":                             false,
	} {
		require.Equal(t, want, containsTailed(text, lag), "%q", text)
		require.Equal(t, want, contains(text, lag), "%q", text)
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

// TestContainsAt: looking for a literal by any of its bytes answers as
// strings.Contains does, with the literal at either end, cut short, or repeated.
func TestContainsAt(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	alphabet := `"status":5 ab`
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		lit := word(1 + r.IntN(6))
		text := word(r.IntN(30))
		if r.IntN(2) == 0 {
			i := r.IntN(len(text) + 1)
			text = text[:i] + lit[:r.IntN(len(lit)+1)] + text[i:]
		}
		for k := range len(lit) {
			require.Equal(t, strings.Contains(text, lit), containsAt(text, lit, k), "%q in %q by byte %d", lit, text, k)
		}
	}
	require.True(t, containsAt("x", "", 0))
}

// FuzzContainsAt compares containsAt with strings.Contains.
func FuzzContainsAt(f *testing.F) {
	f.Add(`{"status":200,"x":"status":5}`, `"status":5`, uint8(9))
	f.Fuzz(func(t *testing.T, text, lit string, k uint8) {
		if lit == "" {
			return
		}
		at := int(k) % len(lit)
		require.Equal(t, strings.Contains(text, lit), containsAt(text, lit, at))
	})
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

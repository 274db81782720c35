package termtext

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, tabs\tand ümlauts": "plain text, tabs\tand ümlauts",
		"\x1b]0;owned\x07title":         "?]0;owned?title",
		"line\nbreak\r":                 "line?break?",
		"del\x7f c1\u009b[31m":          "del? c1?[31m",
		"":                              "",
	} {
		require.Equal(t, want, Clean(in), "%q", in)
	}
	s := "nothing to clean here"
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = Clean(s) }))
}

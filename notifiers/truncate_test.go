package notifiers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 6, "é…"}, // the cut backs off to a rune boundary
	}
	for _, tt := range tests {
		got := notifiers.Truncate(tt.in, tt.limit)
		require.Equal(t, tt.want, got)
		require.LessOrEqual(t, len(got), tt.limit)
	}
}

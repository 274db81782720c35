package file

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFingerprintExtend: a fingerprint grows over more of a file's first bytes only
// while the file still begins with the bytes it was taken from.
func TestFingerprintExtend(t *testing.T) {
	fp, err := takeFingerprint(strings.NewReader("b1\n"), 3)
	require.NoError(t, err)
	next, ok, err := fp.extend(strings.NewReader("b1\nmore\n"), 8)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 8, next.n)
	same, err := next.matches(strings.NewReader("b1\nmore\nand more\n"))
	require.NoError(t, err)
	require.True(t, same)

	_, ok, err = fp.extend(strings.NewReader("after truncate\n"), 15)
	require.NoError(t, err)
	require.False(t, ok, "rewritten in place: not the file the fingerprint was taken from")
	_, ok, err = fp.extend(strings.NewReader("b"), 3)
	require.NoError(t, err)
	require.False(t, ok, "shorter than the fingerprint")

	taken, err := takeFingerprint(strings.NewReader(""), 0)
	require.NoError(t, err)
	for _, empty := range []fingerprint{taken, {}} { // taken of an empty file; reset after a truncation
		next, ok, err = empty.extend(strings.NewReader("anything"), 8)
		require.NoError(t, err)
		require.True(t, ok, "an empty fingerprint holds for any file")
		require.Equal(t, 8, next.n)
	}
}

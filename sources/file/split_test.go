package file

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestChunkText: the complete records a read brought are one string; a record, or a
// part of one, is a substring of it; bytes elsewhere (a record joined or rewritten by
// its decoder, the partial record after the last newline) are copies.
func TestChunkText(t *testing.T) {
	sp := newSplitter(1 << 10)
	n := copy(sp.space(), "one\r\ntwo\nthree\npart")
	sp.commit(n)
	c := sp.chunk()
	require.Equal(t, "one\r\ntwo\nthree", c.s)
	in := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))   //nolint:gosec // a test comparing addresses
		b := uintptr(unsafe.Pointer(unsafe.StringData(c.s))) //nolint:gosec // a test comparing addresses
		return p >= b && p < b+uintptr(len(c.s))
	}
	var got []string
	for {
		rec, _, ok := sp.next()
		if !ok {
			break
		}
		s := c.text(clean(rec, true))
		require.True(t, in(s), "%q is a substring", s)
		got = append(got, s)
	}
	require.Equal(t, []string{"one", "two", "three"}, got)
	part := sp.buf[sp.r:sp.w]
	require.Equal(t, "part", string(part))
	require.False(t, in(c.text(part)), "past the last newline: a copy")
	require.Equal(t, "part", c.text(part))
	other := []byte("two")
	require.False(t, in(c.text(other)))
	require.Equal(t, "two", c.text(other))
	require.Empty(t, c.text(nil))

	var none chunk
	require.Equal(t, "x", none.text([]byte("x")), "no chunk: a copy")
	sp.reset()
	require.Empty(t, sp.chunk().s, "nothing buffered")
}

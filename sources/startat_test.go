package sources_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestParseStartAt(t *testing.T) {
	s, err := sources.ParseStartAt("end")
	require.NoError(t, err)
	require.Equal(t, sources.StartAtEnd, s)
	s, err = sources.ParseStartAt("beginning")
	require.NoError(t, err)
	require.Equal(t, sources.StartAtBeginning, s)
	_, err = sources.ParseStartAt("start")
	require.EqualError(t, err, `"start" is not end or beginning`)
}

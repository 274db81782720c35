//go:build !cgo

package journald

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// readers are the readers every integration test runs with: journalctl only, without cgo.
var readers = []string{ReaderJournalctl}

func TestNoCgo(t *testing.T) {
	c := DefaultConfig
	c.Reader = ReaderSDJournal
	_, err := New(c, sources.Deps{Name: "j", Log: zaptest.NewLogger(t)})
	require.ErrorIs(t, err, errNoCgo)
	require.EqualError(t, err, `journald source "j": reader sdjournal: cowbell was built without cgo; use reader journalctl`)

	src, err := New(DefaultConfig, sources.Deps{Name: "j", Log: zaptest.NewLogger(t)})
	require.NoError(t, err, "auto falls back to journalctl")
	require.IsType(t, &ctlFollower{}, src.f)
}

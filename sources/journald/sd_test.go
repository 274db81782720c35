//go:build cgo

package journald

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/coreos/go-systemd/v22/sdjournal"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// readers are the readers every integration test runs with: both, in a cgo build.
var readers = []string{ReaderSDJournal, ReaderJournalctl}

func TestMissingLibsystemd(t *testing.T) {
	// What sdjournal returns when dlopen finds no libsystemd.so.0: an error without errno.
	noLib := func(dir string) (*sdjournal.Journal, error) {
		return nil, openError(dir, errors.New("unable to open a handle to the library"))
	}
	tests := []struct {
		reader  string
		wantErr string
		want    any
	}{
		{reader: ReaderAuto, want: &ctlFollower{}},
		{reader: ReaderJournalctl, want: &ctlFollower{}},
		{reader: ReaderSDJournal, wantErr: `journald source "j": reader sdjournal: load libsystemd.so.0: unable to open a handle to the library`},
	}
	for _, tt := range tests {
		t.Run(tt.reader, func(t *testing.T) {
			saved := openSD
			openSD = noLib
			defer func() { openSD = saved }()
			core, logs := observer.New(zapcore.InfoLevel)
			c := DefaultConfig
			c.Reader = tt.reader
			src, err := New("j", c, nil, nil, zap.New(core))
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.IsType(t, tt.want, src.f)
			if tt.reader == ReaderAuto {
				require.Equal(t, 1, logs.FilterMessage("reading the journal through journalctl").Len())
			}
		})
	}
}

func TestOpenJournalErrors(t *testing.T) {
	_, err := openJournal("/nonexistent/journal")
	require.ErrorContains(t, err, "open journal directory /nonexistent/journal: ")
	var errno syscall.Errno
	require.ErrorAs(t, err, &errno, "keeps the errno")

	err = openError("", fmt.Errorf("failed to open journal: %w", syscall.EACCES))
	require.EqualError(t, err, "open the local journal: permission denied")
	require.ErrorIs(t, err, syscall.EACCES)
}

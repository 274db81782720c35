//go:build cgo

package journald

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/sources"
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
			src, err := New(c, sources.Deps{Name: "j", Log: zap.New(core)})
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

// fakeWaiter answers Wait with a fixed result and counts the calls.
type fakeWaiter struct {
	result int
	calls  int
}

func (w *fakeWaiter) Wait(time.Duration) int {
	w.calls++
	return w.result
}

// TestWaitErrno: sd_journal_wait returns a negative errno at once when inotify is
// exhausted; wait reports it (the follower ends, Supervise restarts it with backoff)
// instead of letting the loop call it again, which would spin at 100% CPU.
func TestWaitErrno(t *testing.T) {
	w := &fakeWaiter{result: -int(syscall.EMFILE)}
	err := wait(context.Background(), w)
	require.ErrorIs(t, err, syscall.EMFILE)
	require.Equal(t, 1, w.calls)

	for _, r := range []int{sdjournal.SD_JOURNAL_NOP, sdjournal.SD_JOURNAL_APPEND, sdjournal.SD_JOURNAL_INVALIDATE} {
		require.NoError(t, wait(context.Background(), &fakeWaiter{result: r}), "result %d", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w = &fakeWaiter{}
	require.ErrorIs(t, wait(ctx, w), errStopped)
	require.Zero(t, w.calls, "a cancelled wait does not block on the journal")
}

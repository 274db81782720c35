package notifierstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorderFollowsScript(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	r := New(Result{Retry: true, Err: boom}).WithClock(func() time.Time { return t0 })
	r.Script(Result{Err: boom})
	inc := &incidents.Incident{Key: "a", Status: incidents.StatusFiring}

	tests := []struct {
		retry bool
		err   error
	}{{true, boom}, {false, boom}, {false, nil}, {false, nil}}
	for _, tt := range tests {
		retry, err := r.Notify(context.Background(), inc)
		require.Equal(t, tt.retry, retry)
		require.Equal(t, tt.err, err)
	}
	require.Equal(t, []string{"a", "a"}, r.Keys())
	attempts := r.Attempts()
	require.Len(t, attempts, 4)
	require.Equal(t, Attempt{Key: "a", Status: incidents.StatusFiring, At: t0, Retry: true, Err: boom}, attempts[0])

	inc.Key = "changed after delivery"
	require.Equal(t, "a", r.Delivered()[0].Key, "the recorder keeps its own copy")
}

func TestRecorderHoldAndWait(t *testing.T) {
	hold := make(chan struct{})
	r := New(Result{Hold: hold}, Result{Hold: make(chan struct{})})
	done := make(chan error, 1)
	go func() {
		_, err := r.Notify(context.Background(), &incidents.Incident{Key: "a"})
		done <- err
	}()
	close(hold)
	require.Equal(t, "a", r.WaitDelivered(t, 1)[0].Key)
	require.NoError(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	retry, err := r.Notify(ctx, &incidents.Incident{Key: "b"})
	require.True(t, retry, "a held attempt whose context ends may be retried")
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, r.WaitAttempts(t, 2), 2)
}

package notifiers_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

// A restart (store closed and reopened, a new Dispatcher) resumes delivery where the
// old one stopped: entries leave the store only after success.
func TestDispatcherRestartResumes(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(time.Now())
	st := openStore(t, dir)
	down := notifierstest.New()
	for range 50 {
		down.Script(notifierstest.Result{Retry: true, Err: errors.New("dial tcp: connection refused")})
	}
	r := newRig(t, st, map[string]notifiers.Notifier{"hook": down}, notifiers.DefaultDispatcherConfig, clk)
	want := enqueue(t, st, []string{"hook"}, incident("a", 1, incidents.StatusFiring), incident("b", 1, incidents.StatusFiring))
	stop := r.start(t)
	down.WaitAttempts(t, 4)
	require.NoError(t, stop())
	require.Empty(t, down.Delivered())

	pending, err := st.Outbox("hook")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, []string{pending[0].Key, pending[1].Key})
	require.Equal(t, len(down.Attempts()), pending[0].Attempts+pending[1].Attempts, "every failed attempt is recorded")
	require.Equal(t, 1, pending[1].Attempts, "both went out at first; once failing, only the head is tried")
	require.Equal(t, "dial tcp: connection refused", pending[0].LastError)
	require.NoError(t, st.Close())

	st = openStore(t, filepath.Dir(st.Path()))
	defer st.Close()
	up := notifierstest.New()
	r = newRig(t, st, map[string]notifiers.Notifier{"hook": up}, notifiers.DefaultDispatcherConfig, clk)
	stop = r.start(t)
	up.WaitDelivered(t, len(want))
	require.NoError(t, stop())
	require.ElementsMatch(t, want, labels(up.Delivered()), "two incidents, side by side")
	pending, err = st.Outbox("hook")
	require.NoError(t, err)
	require.Empty(t, pending)
}

// At shutdown an attempt in flight is finished, within the grace period, and its
// outcome recorded; past the grace period it is cut off and retried after a restart.
func TestDispatcherShutdownFinishesInFlight(t *testing.T) {
	tests := []struct {
		name      string
		grace     time.Duration
		release   bool // the endpoint answers after shutdown began
		delivered bool
	}{
		{"answer within grace", time.Hour, true, true},
		{"grace runs out", time.Millisecond, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			defer st.Close()
			started, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			var ctxErrAtAnswer error
			n := notifyFunc(func(ctx context.Context, _ *incidents.Incident) (bool, error) {
				once.Do(func() { close(started) })
				select {
				case <-release:
					ctxErrAtAnswer = ctx.Err()
					return false, nil
				case <-ctx.Done():
					return true, context.Cause(ctx)
				}
			})
			r := newRig(t, st, map[string]notifiers.Notifier{"hook": n}, notifiers.DefaultDispatcherConfig, newClock(time.Now()))
			notifiers.SetGrace(r.d, tt.grace)
			enqueue(t, st, []string{"hook"}, incident("a", 1, incidents.StatusFiring))
			stop := r.start(t)
			<-started
			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			if tt.release {
				close(release)
			}
			require.NoError(t, <-stopped)

			pending, err := st.Outbox("hook")
			require.NoError(t, err)
			if tt.delivered {
				require.NoError(t, ctxErrAtAnswer, "the attempt was not cancelled with the dispatcher")
				require.Empty(t, pending)
				require.Equal(t, 1.0, r.metric(t, "cowbell_notifications_sent_total", "notifier", "hook"))
				return
			}
			require.Len(t, pending, 1)
			require.Equal(t, 1, pending[0].Attempts)
			require.Contains(t, pending[0].LastError, "shutting down")
		})
	}
}

// A notifier that takes longer than the attempt timeout fails that attempt with a
// timeout, which is retried.
func TestDispatcherAttemptTimeout(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := notifierstest.New(notifierstest.Result{Hold: make(chan struct{})})
	cfg := notifiers.DispatcherConfig{Timeout: 20 * time.Millisecond}
	r := newRig(t, st, map[string]notifiers.Notifier{"rec": rec}, cfg, newClock(time.Now()))
	enqueue(t, st, []string{"rec"}, incident("a", 1, incidents.StatusFiring))
	stop := r.start(t)
	rec.WaitDelivered(t, 1)
	require.NoError(t, stop())
	attempts := rec.Attempts()
	require.Len(t, attempts, 2)
	require.ErrorContains(t, attempts[0].Err, "delivery attempt timed out")
	require.Equal(t, 1.0, r.metric(t, "cowbell_notifications_failed_total", "notifier", "rec", "retry", "true"))
}

// Entries queued for a notifier that is no longer configured are kept and reported.
func TestDispatcherWarnsOfUnconfiguredNotifier(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := notifierstest.New()
	enqueue(t, st, []string{"gone", "rec"}, incident("a", 1, incidents.StatusFiring))
	r := newRig(t, st, map[string]notifiers.Notifier{"rec": rec}, notifiers.DefaultDispatcherConfig, newClock(time.Now()))
	stop := r.start(t)
	rec.WaitDelivered(t, 1)
	require.NoError(t, stop())
	entries := r.logs.FilterMessage("outbox holds entries for a notifier that is not configured").All()
	require.Len(t, entries, 1)
	require.Equal(t, "gone", entries[0].ContextMap()["notifier"])
	pending, err := st.Outbox("gone")
	require.NoError(t, err)
	require.Len(t, pending, 1)
}

package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/pipeline"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// fakeRunning is a pipeline whose health the test sets by hand.
type fakeRunning struct {
	settled chan struct{}
	mu      sync.Mutex
	h       pipeline.Health
}

func (f *fakeRunning) SourcesSettled() <-chan struct{} { return f.settled }

func (f *fakeRunning) Health() pipeline.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h
}

func (f *fakeRunning) set(progress time.Time, src sources.SourceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.h = pipeline.Health{Progress: progress, Sources: map[string]sources.SourceState{"redis": src}}
}

// TestReportWatchdog: READY=1 waits for the sources to settle; WATCHDOG=1 is sent only
// while the pipeline's loop goes round, so systemd restarts a wedged cowbell; STATUS=
// follows what is wrong.
func TestReportWatchdog(t *testing.T) {
	sent := make(chan string, 16)
	d := &daemon{log: zap.NewNop(), notify: func(s string) { sent <- s }}
	next := func() string {
		t.Helper()
		select {
		case s := <-sent:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("nothing sent")
		}
		return ""
	}
	nothing := func() {
		t.Helper()
		select {
		case s := <-sent:
			t.Fatalf("sent %q", s)
		default:
		}
	}
	f := &fakeRunning{settled: make(chan struct{})}
	t0 := time.Now()
	f.set(t0, sources.SourceState{Opened: true, Up: true})
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.report(ctx, f, 10*time.Second, tick) }()

	nothing() // nothing before the sources have settled
	close(f.settled)
	require.Equal(t, "READY=1\nSTATUS=watching 1 sources, 0 notifiers", next())

	tick <- t0.Add(time.Second) // the loop went round a second ago
	require.Equal(t, "WATCHDOG=1", next())

	// Wedged: the loop stopped going round six seconds ago (half the interval is
	// the allowance), and the source fails meanwhile.
	f.set(t0, sources.SourceState{Up: false, Err: "open /var/log/redis: permission denied"})
	tick <- t0.Add(6 * time.Second)
	require.Equal(t, "STATUS=source redis failing: open /var/log/redis: permission denied", next())
	tick <- t0.Add(7 * time.Second)
	tick <- t0.Add(7500 * time.Millisecond) // taken only once the one before is handled
	nothing()

	// The loop goes round again: the pings come back.
	f.set(t0.Add(8*time.Second), sources.SourceState{Opened: true, Up: true})
	tick <- t0.Add(9 * time.Second)
	require.Equal(t, "STATUS=watching 1 sources, 0 notifiers", next())
	require.Equal(t, "WATCHDOG=1", next())
	cancel()
	<-done
}

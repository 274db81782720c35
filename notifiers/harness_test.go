package notifiers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is virtual time: sleeping advances it at once and records the wait.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newClock(t0 time.Time) *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch
}

func (c *clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// notifyFunc is a notifier written inline in a test.
type notifyFunc func(ctx context.Context, inc *incidents.Incident) (bool, error)

func (f notifyFunc) Notify(ctx context.Context, inc *incidents.Incident) (bool, error) {
	return f(ctx, inc)
}

// rig is one Dispatcher under test with its registry and observed logs.
type rig struct {
	d    *notifiers.Dispatcher
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

func newRig(t *testing.T, st *state.Store, ns map[string]notifiers.Notifier, cfg notifiers.DispatcherConfig, clk *clock) *rig {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	reg := prometheus.NewPedanticRegistry()
	d := notifiers.NewDispatcher(st, ns, cfg, log, reg)
	notifiers.SetClock(d, clk.Now, clk.After)
	notifiers.SetJitter(d, func() float64 { return 0.5 })
	return &rig{d: d, reg: reg, logs: logs}
}

// start runs the Dispatcher; the returned stop cancels it and returns Run's error.
func (r *rig) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("dispatcher did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// metric returns the value of a counter or gauge series; labels are name, value pairs.
func (r *rig) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	st, err := state.Open(dir, zaptest.NewLogger(t))
	require.NoError(t, err)
	return st
}

// incident makes the n-th notification of key.
func incident(key string, n int, status incidents.Status) *incidents.Incident {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &incidents.Incident{
		Schema: incidents.Schema, Status: status, Key: key,
		Rule:    incidents.RuleRef{ID: "redis/bgsave-fork-enomem", Title: "Redis cannot fork for BGSAVE", Severity: "critical"},
		Summary: "Redis cannot fork", Host: "node-1", Count: n,
		Lines:     []incidents.Line{{Time: t0, Text: "Can't save in background: fork: Cannot allocate memory"}},
		FirstSeen: t0, LastSeen: t0.Add(time.Duration(n) * time.Minute), Advice: []incidents.Advice{},
	}
}

// label is how tests name one notification: key#count.
func label(inc *incidents.Incident) string { return fmt.Sprintf("%s#%d", inc.Key, inc.Count) }

// enqueue commits incs for each of the notifiers in one batch, as the pipeline does.
func enqueue(t *testing.T, st *state.Store, names []string, incs ...*incidents.Incident) []string {
	t.Helper()
	var b state.Batch
	var labels []string
	for _, inc := range incs {
		body, err := json.Marshal(inc)
		require.NoError(t, err)
		for _, name := range names {
			b.Deliveries = append(b.Deliveries, state.Delivery{Notifier: name, Key: inc.Key, Incident: body})
		}
		labels = append(labels, label(inc))
	}
	require.NoError(t, st.Commit(context.Background(), b))
	return labels
}

// logged returns the observed entries with a message, as "incident" field values.
func (r *rig) logged(msg string) []string {
	var out []string
	for _, e := range r.logs.FilterMessage(msg).All() {
		out = append(out, fmt.Sprint(e.ContextMap()["incident"]))
	}
	return out
}

package notifiers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/state"
)

// BenchmarkDrain measures how long a burst of 500 distinct incidents, queued at once,
// takes to reach a healthy webhook that answers after a given latency (0: a local
// receiver; 50ms: a SaaS endpoint across the internet).
func BenchmarkDrain(b *testing.B) {
	const burst = 500
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("incidents=%d/latency=%s", burst, latency), func(b *testing.B) {
			var got atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(latency)
				got.Add(1)
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			for b.Loop() {
				b.StopTimer()
				st, err := state.Open(b.TempDir(), zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				var batch state.Batch
				for i := range burst {
					inc := incident(fmt.Sprintf("redis/bgsave-fork-enomem@node-%d", i), 1, incidents.StatusFiring)
					body, _ := json.Marshal(inc)
					batch.Deliveries = append(batch.Deliveries, state.Delivery{Notifier: "hook", Key: inc.Key, Incident: body})
				}
				if err := st.Commit(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				n := newWebhook(b, srv.URL)
				d := notifiers.NewDispatcher(st, map[string]notifiers.Notifier{"hook": n}, notifiers.DispatcherConfig{}, zap.NewNop(), nil)
				got.Store(0)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				go func() { done <- d.Run(ctx) }()
				for got.Load() < burst {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				st.Close()
				b.StartTimer()
			}
		})
	}
}

package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// BenchmarkCommit measures one pipeline step: a cursor, an incident state and two
// deliveries of a 4 KiB incident, durably committed (one fsync).
func BenchmarkCommit(b *testing.B) {
	st, err := Open(b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	body := []byte(fmt.Sprintf(`{"key":"k","pad":%q}`, strings.Repeat("x", 4096)))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(body)))
	for i := 0; b.Loop(); i++ {
		batch := Batch{
			Cursors:   []sources.Cursor{{Stream: "/var/log/redis.log", Pos: fmt.Sprint(i)}},
			Incidents: []Record{{Key: "k", Value: fmt.Appendf(nil, `{"key":"k","count":%d}`, i)}},
			Deliveries: []Delivery{
				{Notifier: "slack", Key: "k", Incident: body},
				{Notifier: "hook", Key: "k", Incident: body},
			},
		}
		if err := st.Commit(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSave measures a cursor saved on its own.
func BenchmarkSave(b *testing.B) {
	st, err := Open(b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := st.Save(ctx, sources.Cursor{Stream: "journal", Pos: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliveryBookkeeping is what the outbox costs per delivery besides the
// request, with a queue of n entries waiting: the bound check, reading the next
// round's entries and recording one delivery (which queues one more, so the queue
// stays at n). It should not grow with n.
func BenchmarkDeliveryBookkeeping(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("queue=%d", n), func(b *testing.B) {
			st, err := Open(b.TempDir(), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			st.db.NoSync = true // the bookkeeping, not the disk
			ctx := context.Background()
			body := []byte(`{"key":"k","pad":"` + strings.Repeat("x", 2048) + `"}`)
			var batch Batch
			for i := range n {
				batch.Deliveries = append(batch.Deliveries, Delivery{Notifier: "hook", Key: fmt.Sprint("k", i), Incident: body})
			}
			if err := st.Commit(ctx, batch); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Trim("hook", 2*n, 72*time.Hour, time.Now()); err != nil {
					b.Fatal(err)
				}
				round, err := st.Window("hook", 32)
				if err == nil {
					round, err = st.Fill("hook", round[:1])
				}
				if err != nil || len(round) == 0 {
					b.Fatal(err)
				}
				if _, err := st.Settle("hook", []Outcome{{Seq: round[0].Seq, Kind: Delivered}}); err != nil {
					b.Fatal(err)
				}
				_ = st.Len("hook")
				if err := st.Commit(ctx, Batch{Deliveries: []Delivery{{Notifier: "hook", Key: "k", Incident: body}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package state

import (
	"context"
	"fmt"
	"strings"
	"testing"

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

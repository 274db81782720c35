package enrich

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkSnapshot reads this machine's /proc and /sys: uncached, every call reads
// the host; cached, calls within CacheFor share one reading (a flood of hits).
func BenchmarkSnapshot(b *testing.B) {
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"cached", time.Hour}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			c := DefaultConfig
			c.CacheFor = bc.cacheFor
			e := New(c, zap.NewNop())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = e.Snapshot(ctx)
			}
		})
	}
}

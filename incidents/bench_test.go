package incidents

import (
	"testing"
	"time"

	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// BenchmarkObserve runs lines through a Tracker over the built-in pack: an ordinary
// line (the hot path: no hit, no allocation) and an incident line folding into its open
// incident.
func BenchmarkObserve(b *testing.B) {
	rs, err := rules.Load(rules.LoadOptions{Builtin: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		r.Cooldown = dur(time.Hour)
	}
	m := newMatcher(b, rs...)
	for _, bl := range []struct{ name, text string }{
		{"miss", "1:M 30 Nov 2026 03:12:09.114 * DB saved on disk"},
		{"fold", "1:M 30 Nov 2026 03:12:09.114 # Can't save in background: fork: Cannot allocate memory"},
	} {
		b.Run(bl.name, func(b *testing.B) {
			tr := NewTracker(m, Identity{Host: "db-1"}, func() time.Time { return t0 })
			l := sources.Line{Source: "redis", Text: bl.text, Time: t0}
			b.ReportAllocs()
			b.SetBytes(int64(len(bl.text)))
			for b.Loop() {
				tr.Observe(l)
			}
		})
	}
}

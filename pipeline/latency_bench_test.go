package pipeline

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// chanSource is a source whose lines a benchmark hands it: the pipeline's path from a
// read line to the webhook, without a follower's own timing.
type chanSource struct{ in chan sources.Line }

func (s *chanSource) Name() string { return "app" }

func (s *chanSource) Run(ctx context.Context, out chan<- *sources.Batch) error {
	for {
		select {
		case l := <-s.in:
			b := sources.NewBatch()
			b.Lines = append(b.Lines, l)
			select {
			case out <- b:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// probeRe is the benchmark's incident line; its stamp is when the line was read.
var probeRe = regexp.MustCompile(`latency-probe id=(\d+) at=(\d+)`)

// latencyHook is a webhook receiver noting, per probe id, the request's arrival minus
// the stamp in the incident's line.
type latencyHook struct {
	mu    sync.Mutex
	lat   map[int]time.Duration
	want  int
	done  chan struct{}
	bytes int
}

func (h *latencyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bytes += len(body)
	for _, m := range probeRe.FindAllSubmatch(body, -1) {
		id, _ := strconv.Atoi(string(m[1]))
		ns, _ := strconv.ParseInt(string(m[2]), 10, 64)
		if _, ok := h.lat[id]; !ok {
			h.lat[id] = at.Sub(time.Unix(0, ns))
		}
	}
	if len(h.lat) == h.want && h.done != nil {
		close(h.done)
		h.done = nil
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// expect arms the hook for n more probes and returns a channel closed when they came.
func (h *latencyHook) expect(n int) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lat, h.want = map[int]time.Duration{}, n
	h.done = make(chan struct{})
	return h.done
}

func (h *latencyHook) latencies() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Duration
	for _, d := range h.lat {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// BenchmarkBurst measures the pipeline's path from read lines to a local webhook: a
// burst of 500 lines, each a distinct incident, handed to the loop at once, with the
// built-in pack loaded. An op is the whole burst: from the first line handed over to
// the last request; p50-ms and p99-ms are the incidents' latencies.
func BenchmarkBurst(b *testing.B) {
	const burst = 500
	hook := &latencyHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := b.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(`
- id: bench/latency-probe
  title: Latency probe
  severity: critical
  match: 'latency-probe id=(?P<id>\d+) at=\d+'
  key: "{{.Rule}}@{{.Host}}/{{.Captures.id}}"
`), 0o600); err != nil {
		b.Fatal(err)
	}
	var all []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		doc := fmt.Sprintf(`
host: bench
state_dir: %s
rules: {paths: [%q]}
notifiers:
  - {name: hook, type: webhook, url: %q}
`, filepath.Join(dir, fmt.Sprintf("state-%d", i)), rulesFile, srv.URL)
		ctx, cancel, p := newBenchPipeline(b, doc)
		src := &chanSource{in: make(chan sources.Line, burst)}
		p.in.sources = []sources.Source{src}
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		arrived := hook.expect(burst)
		b.StartTimer()
		for id := range burst {
			now := time.Now()
			src.in <- sources.Line{
				Source: "app", Stream: "app.log", Time: now,
				Text:   fmt.Sprintf("app[42]: latency-probe id=%d at=%d", id, now.UnixNano()),
				Cursor: sources.Cursor{Stream: "app.log", Pos: strconv.Itoa(id)},
			}
		}
		select {
		case <-arrived:
		case <-time.After(time.Minute):
			b.Fatal("the burst did not arrive within a minute")
		}
		b.StopTimer()
		all = append(all, hook.latencies()...)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	slices.Sort(all)
	q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(hook.bytes)/float64(len(all)), "body-B")
}

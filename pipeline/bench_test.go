package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/rules"
	"github.com/cowbell-sidecar/cowbell/sources/file"
)

// corpus is about 8 MiB of ordinary Redis, PostgreSQL and kernel lines from the pack's
// sample logs, the kind of traffic that fires nothing.
func corpus(b *testing.B) []byte {
	b.Helper()
	var lines []string
	for _, f := range []string{"ordinary.log", "near-misses.log"} {
		data, err := os.ReadFile("../rules/testdata/samples/" + f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	var buf bytes.Buffer
	for buf.Len() < 8<<20 {
		for _, l := range lines {
			buf.WriteString(l)
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// BenchmarkReplay runs the built-in pack over ordinary logs through the whole offline
// path (decode, match, track) against a baseline that only splits the same bytes into
// lines: the ratio is what cowbell adds per line.
func BenchmarkReplay(b *testing.B) {
	rs, err := rules.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	data := corpus(b)
	b.Run("path=lines-only", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			sc := bufio.NewScanner(bytes.NewReader(data))
			n := 0
			for sc.Scan() {
				n++
			}
			if n == 0 {
				b.Fatal("no lines")
			}
		}
	})
	b.Run("path=replay", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			err := Replay(context.Background(), rs, []Input{{Name: "x", Reader: bytes.NewReader(data)}},
				ReplayOptions{Format: file.FormatPlain, Host: "h"}, func(any) error {
					b.Fatal("ordinary lines fired a rule")
					return nil
				})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFollow is the whole live path over ordinary lines: the file source reads a
// file of about 32 MiB (the pack's sample logs) from its beginning, the loop matches
// each line with the built-in pack, tracks and commits, and a last line fires a rule
// of its own whose notification, at a local webhook, ends the run. cpu-ns/line is the
// process's CPU time (all threads, the collector's included) from Run to that
// notification, a line; building the pipeline (compiling the pack) is left out.
func BenchmarkFollow(b *testing.B) {
	data := bytes.Repeat(corpus(b), 4)
	lines := bytes.Count(data, []byte{'\n'}) + 1
	dir := b.TempDir()
	log := filepath.Join(dir, "app.log")
	end := "cowbell-follow-benchmark-end"
	if err := os.WriteFile(log, append(data, end+"\n"...), 0o600); err != nil {
		b.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "end.yaml")
	if err := os.WriteFile(rulesFile, []byte("- {id: bench/end, title: end, match: "+end+"}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"bench/end"`)) {
			return // an incident of the logs read
		}
		select {
		case got <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var cpu time.Duration // from Run to the notification
	n := 0
	for b.Loop() {
		n++
		doc := fmt.Sprintf(`
state_dir: %s
rules: {paths: [%q]}
sources:
  - {name: app, type: file, paths: [%q], start_at: beginning, format: plain}
notifiers:
  - {name: hook, type: webhook, url: %q}
`, filepath.Join(dir, fmt.Sprint("state", n)), rulesFile, log, srv.URL)
		ctx, cancel, p := newBenchPipeline(b, doc)
		done := make(chan error, 1)
		cpu -= cpuTime(b)
		go func() { done <- p.Run(ctx) }()
		select {
		case <-got:
		case err := <-done:
			b.Fatalf("run ended: %v", err)
		case <-time.After(time.Minute):
			b.Fatal("the last line never paged")
		}
		cpu += cpuTime(b)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(lines), "cpu-ns/line")
}

// cpuTime is the CPU time the process used so far (all threads).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newBenchPipeline builds a pipeline from the configuration doc, for a benchmark.
func newBenchPipeline(b *testing.B, doc string) (context.Context, context.CancelFunc, *Pipeline) {
	b.Helper()
	cfg, err := config.Parse("bench.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, cfg, Options{Log: zap.NewNop()})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	return ctx, cancel, p
}

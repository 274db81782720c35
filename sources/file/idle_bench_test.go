package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// BenchmarkIdleFiles follows 1000 idle Docker json-file logs, one directory each as
// Docker lays them out, with the default configuration: one op is one second of
// idleness after every file was read. It reports the CPU the process spent (all
// threads; cpu-ms/s is thousandths of a core, mCPU) and the heap in use per file.
func BenchmarkIdleFiles(b *testing.B) {
	dir := b.TempDir()
	const files = 1000
	for i := range files {
		id := fmt.Sprintf("%064d", i)
		p := filepath.Join(dir, id, id+"-json.log")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(`{"log":"container started\n","stream":"stdout","time":"2024-06-05T00:00:00.000000000Z"}`+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	c := DefaultConfig
	c.Paths, c.StartAt, c.Format = []string{filepath.Join(dir, "*", "*-json.log")}, "beginning", FormatDocker
	src, err := New(c, sources.Deps{Name: "bench", Log: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *sources.Batch, 16)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	for n := 0; n < files; {
		n += len((<-out).Lines)
	}
	time.Sleep(time.Second) // settle: what the first scans left behind
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	cpu := cpuTime(b)
	for b.Loop() {
		time.Sleep(time.Second)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N)/1e6, "cpu-ms/s")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/files, "heap-B/file")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

package file

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// benchBytes is about how large the benchmark's log file is.
const benchBytes = 100 << 20

// benchFile writes a log of about benchBytes in format to dir and returns its path
// and line count.
func benchFile(b *testing.B, dir string, format Format) (string, int) {
	b.Helper()
	path := filepath.Join(dir, string(format)+".log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	size, lines := 0, 0
	for size < benchBytes {
		var n int
		msg := fmt.Sprintf("1:M 02 Jan 2025 03:04:05.%03d * Background saving started by pid %d, %d changes in 300 seconds", lines%1000, 1000+lines, lines)
		if format == FormatCRI {
			n, err = fmt.Fprintf(w, "2025-01-02T03:04:05.%09dZ stdout F %s\n", lines%1e9, msg)
		} else {
			n, err = fmt.Fprintf(w, "%s\n", msg)
		}
		if err != nil {
			b.Fatal(err)
		}
		size += n
		lines++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, lines
}

// BenchmarkFileSource reads a 100 MB file from its beginning through Run, every line
// decoded and received, and stops at its last line.
// With time_zone set, every plain line's Redis stamp is parsed and used.
func BenchmarkFileSource(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
		zone   string
	}{{"plain", FormatPlain, ""}, {"plain-time_zone", FormatPlain, "UTC"}, {"cri", FormatCRI, ""}} {
		format := bc.format
		b.Run("format="+bc.name, func(b *testing.B) {
			path, lines := benchFile(b, b.TempDir(), format)
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			c := DefaultConfig
			c.Paths, c.StartAt, c.Format, c.TimeZone = []string{path}, "beginning", format, bc.zone
			b.SetBytes(fi.Size())
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			for b.Loop() {
				benchRun(b, c, lines)
			}
			// The process's CPU time, all threads: on a shared machine it wanders far
			// less than the time on the clock.
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process used so far, in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchRun runs a source until it sent lines lines.
func benchRun(b *testing.B, c Config, lines int) {
	src, err := New(c, sources.Deps{Name: "bench", Log: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *sources.Batch, 16)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	for n := 0; n < lines; {
		b := <-out
		n += len(b.Lines)
		b.Release()
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBaselineCat reads the same plain file as BenchmarkFileSource without
// decoding it: with io.Copy to io.Discard, and with cat(1) writing to /dev/null.
func BenchmarkBaselineCat(b *testing.B) {
	path, _ := benchFile(b, b.TempDir(), FormatPlain)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reader=io.Copy", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("reader=cat", func(b *testing.B) {
		cat, err := exec.LookPath("cat")
		if err != nil {
			b.Skip("no cat")
		}
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer null.Close()
		b.SetBytes(fi.Size())
		for b.Loop() {
			cmd := exec.Command(cat, path)
			cmd.Stdout = null
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

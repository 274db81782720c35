package journald

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// benchEntries is how many entries each benchmark iteration reads.
const benchEntries = 50_000

var benchJournal struct {
	once  sync.Once
	id    string
	bytes int64
}

// benchData logs benchEntries entries under one identifier, once per test binary,
// and waits until journald has written them all.
func benchData(b *testing.B) (id string, size int64) {
	env := testenv.Journald(b)
	benchJournal.once.Do(func() {
		id := identifier(b)
		for i := range benchEntries {
			msg := fmt.Sprintf("redis-server[%d]: Background saving started by pid %d; entry %d of the benchmark", 1000+i%97, 4000+i, i)
			env.Send(b, id, msg, nil)
			benchJournal.bytes += int64(len(msg))
		}
		env.Journalctl(b, "--sync")
		n := strings.Count(env.Journalctl(b, "-o", "cat", "SYSLOG_IDENTIFIER="+id), "\n")
		if n != benchEntries {
			b.Fatalf("journald kept %d of %d entries (rate limit?)", n, benchEntries)
		}
		benchJournal.id = id
	})
	if benchJournal.id == "" {
		b.Fatal("no benchmark data")
	}
	return benchJournal.id, benchJournal.bytes
}

// BenchmarkJournalRead reads benchEntries entries through each reader; the baseline is
// `journalctl -o cat` printing the same entries to io.Discard. Compare with
// bench/journald.sh (benchstat -col /reader).
func BenchmarkJournalRead(b *testing.B) {
	id, size := benchData(b)
	b.Run("reader=journalctl-cat", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for range b.N {
			cmd := exec.Command("journalctl", "-o", "cat", "--no-pager", "SYSLOG_IDENTIFIER="+id)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, reader := range readers {
		b.Run("reader="+reader, func(b *testing.B) {
			c := Config{Identifiers: []string{id}, Priority: 7, StartAt: "beginning", Reader: reader}
			b.SetBytes(size)
			b.ReportAllocs()
			for range b.N {
				if n := readN(b, c, benchEntries); n != benchEntries {
					b.Fatalf("read %d entries, want %d", n, benchEntries)
				}
			}
		})
	}
}

// readN runs a source until it has passed on n lines and returns how many it read.
func readN(b *testing.B, c Config, n int) int {
	src, err := New(c, sources.Deps{Name: "bench", Log: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *sources.Batch, 1024)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	got := 0
	for got < n {
		select {
		case b := <-out:
			got += len(b.Lines)
			b.Release()
		case err := <-done:
			b.Fatalf("source stopped after %d lines: %v", got, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return got
}

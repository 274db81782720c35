package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

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

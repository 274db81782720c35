package file

import (
	"bytes"
	"os"
	"testing"
	"unicode/utf8"
)

// maxSeed bounds seed length: the fuzzer minimizes every interesting input, and
// minimizing a 16 KiB one stalls it for minutes.
const maxSeed = 512

// seedLines adds every line of a testdata log to the corpus, long ones shortened.
func seedLines(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		f.Add(l[:min(len(l), maxSeed)])
	}
}

// checkDecoded holds for any record a decoder accepts: one line of valid UTF-8.
func checkDecoded(t *testing.T, msg []byte, stream string) {
	if bytes.IndexByte(msg, '\n') >= 0 {
		t.Fatalf("newline in decoded message %q", msg)
	}
	if !utf8.Valid(msg) {
		t.Fatalf("invalid UTF-8 in decoded message %q", msg)
	}
	if stream == "" {
		t.Fatal("no stream")
	}
}

func FuzzDecodeDockerJSON(f *testing.F) {
	seedLines(f, dockerLog)
	f.Fuzz(func(t *testing.T, record []byte) {
		msg, stream, _, _, err := DecodeDockerJSON(record)
		if err != nil {
			return
		}
		checkDecoded(t, msg, stream)
	})
}

func FuzzDecodeCRI(f *testing.F) {
	seedLines(f, criLog)
	f.Fuzz(func(t *testing.T, record []byte) {
		msg, stream, _, _, err := DecodeCRI(record)
		if err != nil {
			return
		}
		checkDecoded(t, msg, stream)
	})
}

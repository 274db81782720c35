package file

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
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

// FuzzResumeMidJoin checks the cursor of every line of an interleaved container log:
// resuming from it, a restart sends exactly the lines that came after, none lost, none
// twice, joined whole. Each input byte is one CRI record: bit 0 the stream, bit 1
// whether it is a partial piece.
func FuzzResumeMidJoin(f *testing.F) {
	f.Add([]byte{2, 1, 0})          // stdout piece, stderr line, stdout end
	f.Add([]byte{2, 3, 2, 1, 0, 1}) // both streams half joined in turn
	f.Add([]byte{0, 2, 2, 3, 1, 0, 3, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64 {
			in = in[:64]
		}
		type record struct {
			text       []byte
			start, end int64
		}
		var recs []record
		var off int64
		for i, b := range in {
			stream, tag := "stdout", "F"
			if b&1 != 0 {
				stream = "stderr"
			}
			if b&2 != 0 {
				tag = "P"
			}
			text := []byte("2025-01-02T03:04:05Z " + stream + " " + tag + " r" + strconv.Itoa(i))
			recs = append(recs, record{text, off, off + int64(len(text)) + 1})
			off += int64(len(text)) + 1
		}
		type sent struct {
			text      string
			off, done int64
		}
		// read runs a decoder from a cursor over the records from there on.
		read := func(from, done int64) []sent {
			d := newDecoder(FormatCRI, 1<<20)
			d.startAt(from, done)
			var out []sent
			emit := func(text []byte, _ time.Time, stream string, _ bool, end int64) error {
				s := sent{text: stream + ":" + string(text), off: end}
				if start, ok := d.pending(); ok {
					s.off, s.done = start, end
				}
				out = append(out, s)
				return nil
			}
			for _, r := range recs {
				if r.start < from {
					continue
				}
				if err := d.record(r.text, false, r.end, time.Time{}, emit, func(string, error) {}); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.flush(off, emit); err != nil {
				t.Fatal(err)
			}
			return out
		}
		all := read(0, 0)
		for i, s := range all {
			after := read(s.off, s.done)
			var want, got []string
			for _, w := range all[i+1:] {
				want = append(want, w.text)
			}
			for _, g := range after {
				got = append(got, g.text)
			}
			if !slices.Equal(want, got) {
				t.Fatalf("records %v, resumed after line %d (%+v):\nwant %q\ngot  %q", in, i, s, want, got)
			}
		}
	})
}

// FuzzDecodePos: a stored cursor, however damaged, decodes or fails without a panic,
// and one that decodes encodes to a cursor that decodes the same.
func FuzzDecodePos(f *testing.F) {
	f.Add("f1;d:1:2:64:deadbeef:%2Fvar%2Flog%2Fa.log:10;c:3:4:0:0:%2Fx:100+250")
	f.Add(encodePos([]filePos{
		{id: identity{1, 2}, birth: 1735787045123456789, fp: fingerprint{64, 0xdeadbeef}, at: anchor{100, 64, 0xfeed},
			read: time.Unix(0, 1735787045123456789), path: "/var/log/a b;c:d%.log", off: 10},
		{current: true, id: identity{3, 4}, path: "/y", off: 100, done: 250},
	}))
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := decodePos(s)
		if err != nil {
			return
		}
		again, err := decodePos(encodePos(ps))
		if err != nil {
			t.Fatalf("re-encoded %q: %v", encodePos(ps), err)
		}
		for i := range ps {
			ps[i].read, again[i].read = ps[i].read.UTC(), again[i].read.UTC()
		}
		if !slices.EqualFunc(ps, again, func(a, b filePos) bool { return a == b }) {
			t.Fatalf("%q decodes to %+v, re-encoded to %+v", s, ps, again)
		}
	})
}

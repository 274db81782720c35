package file

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cowbell-sidecar/cowbell/sources"
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

// checkLines holds for the lines of any record a structured decoder accepts: at least
// one, each of valid UTF-8 without a newline.
func checkLines(t *testing.T, lines [][]byte) {
	if len(lines) == 0 {
		t.Fatal("a decoded record gave no line")
	}
	for _, l := range lines {
		checkDecoded(t, l, "-")
	}
}

// seedRecords adds the csvlog records of a testdata log, joined over their lines.
func seedRecords(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, rec := range bytes.SplitAfter(b, []byte(",0\n")) {
		f.Add(bytes.TrimSuffix(rec, []byte{'\n'})[:min(len(rec), maxSeed)])
	}
}

func FuzzDecodeCSVLog(f *testing.F) {
	seedRecords(f, pgCSVLog)
	f.Add([]byte(`2024-06-05 10:00:00.123 UTC,"a""b",,1,,x,1,,,,0,LOG,00000,"m` + "\n" + `n",,,,,,,,,"",,,0`))
	f.Fuzz(func(t *testing.T, record []byte) {
		lines, _, _, err := DecodeCSVLog(record, time.Now())
		if err != nil {
			return
		}
		checkLines(t, lines)
	})
}

func FuzzDecodeJSONLog(f *testing.F) {
	seedLines(f, pgJSONLog)
	f.Fuzz(func(t *testing.T, record []byte) {
		lines, _, _, err := DecodeJSONLog(record, time.Now())
		if err != nil {
			return
		}
		checkLines(t, lines)
	})
}

func FuzzDecodeJournalJSON(f *testing.F) {
	seedLines(f, journal)
	f.Add([]byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":[104,105,10,255],"_PID":["1","2"],"_COMM":null}`))
	f.Fuzz(func(t *testing.T, record []byte) {
		msg, ts, labels, err := DecodeJournalJSON(record)
		if err != nil {
			return
		}
		checkDecoded(t, msg, "-")
		if ts.IsZero() {
			t.Fatal("no time")
		}
		for k, v := range labels {
			if !utf8.ValidString(v) {
				t.Fatalf("label %s: invalid UTF-8 %q", k, v)
			}
		}
	})
}

// FuzzScanStructured feeds arbitrary bytes to Scan as each structured format: no
// panic, and every line it passes on is one line of valid UTF-8.
func FuzzScanStructured(f *testing.F) {
	for _, p := range []string{pgCSVLog, pgJSONLog, journal} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4*maxSeed)], uint8(0))
	}
	formats := []Format{FormatPostgresCSV, FormatPostgresJSON, FormatJournalJSON, FormatAuto}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		format := formats[int(which)%len(formats)]
		err := Scan(context.Background(), bytes.NewReader(data), "fuzz", "-", format, func(l sources.Line) error {
			checkDecoded(t, []byte(l.Text), "-")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCleanRecord: a record the splitter cut at its newline is cleaned as clean
// cleans any text, without the look for a newline inside it.
func FuzzCleanRecord(f *testing.F) {
	for _, s := range []string{"", "plain", "ends in CR\r", "\r", "bad \xff utf-8", "\xe2\x82", "é\r\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.ReplaceAll(b, []byte{'\n'}, nil) // what the splitter hands over
		want := string(clean(slices.Clone(b), true))
		if got := string(cleanRecord(b)); got != want {
			t.Fatalf("cleanRecord(%q) = %q, clean gives %q", b, got, want)
		}
		if !utf8.ValidString(want) {
			t.Fatalf("clean(%q) is not UTF-8", b)
		}
	})
}

package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func pipe(t *testing.T) (*os.File, *os.File, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err == nil {
		t.Cleanup(func() { r.Close(); w.Close() })
	}
	return r, w, err
}

// readAll runs a Reader over input to its end and returns the lines it sent.
func readAll(t *testing.T, input io.Reader, m *Metrics) []Line {
	t.Helper()
	src := NewReader("stdin", input, m).(*Reader)
	src.now = func() time.Time { return time.Unix(100, 0) }
	out := make(chan *Batch)
	done := make(chan error, 1)
	go func() { done <- src.Run(context.Background(), out); close(out) }()
	var lines []Line
	for b := range out {
		lines = append(lines, b.Lines...)
	}
	require.NoError(t, <-done)
	return lines
}

func TestReaderLines(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	tests := []struct {
		name  string
		input string
		want  []string
		cut   []bool
	}{
		{name: "empty", input: ""},
		{name: "lines", input: "a\nbb\n\nccc\n", want: []string{"a", "bb", "", "ccc"}},
		{name: "crlf", input: "a\r\nb\r\n", want: []string{"a", "b"}},
		{name: "last line without newline", input: "a\nb", want: []string{"a", "b"}},
		{name: "invalid utf-8 passes", input: "\xff\xfe ok\n", want: []string{"\xff\xfe ok"}},
		{
			name: "long line cut", input: long + "\nnext\n",
			want: []string{long[:MaxLineBytes], "next"}, cut: []bool{true, false},
		},
		{name: "long last line cut", input: long, want: []string{long[:MaxLineBytes]}, cut: []bool{true}},
		{
			name: "exactly the cap", input: long[:MaxLineBytes-1] + "\n",
			want: []string{long[:MaxLineBytes-1]},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			lines := readAll(t, strings.NewReader(tt.input), m)
			var texts []string
			cuts := 0
			for i, l := range lines {
				texts = append(texts, l.Text)
				require.Equal(t, "stdin", l.Source)
				require.Equal(t, Cursor{Stream: PositionKey("stdin", StdinStream)}, l.Cursor)
				require.Equal(t, StdinStream, l.Stream)
				require.Equal(t, time.Unix(100, 0), l.Time)
				wantCut := tt.cut != nil && tt.cut[i]
				require.Equal(t, wantCut, l.Labels["cut"] == "true", "line %d cut mark", i)
				if wantCut {
					cuts++
				}
			}
			require.Equal(t, tt.want, texts)
			require.InDelta(t, float64(len(tt.want)), testutil.ToFloat64(m.LinesRead), 0)
			require.InDelta(t, float64(cuts), testutil.ToFloat64(m.LinesCut), 0)
			require.InDelta(t, float64(len(tt.input)), testutil.ToFloat64(m.BytesRead), 0)
		})
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	src := NewReader("stdin", io.MultiReader(strings.NewReader("a\npartial"), failingReader{boom}), nil)
	out := make(chan *Batch, 10)
	err := src.Run(context.Background(), out)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "read stdin")
	close(out)
	var texts []string
	for b := range out {
		for _, l := range b.Lines {
			texts = append(texts, l.Text)
		}
	}
	require.Equal(t, []string{"a"}, texts, "the complete line only")
}

func TestReaderCancel(t *testing.T) {
	tests := []struct {
		name  string
		write string // written before cancelling; the reader blocks on the pipe
	}{
		{name: "blocked in read"},
		{name: "blocked in send", write: "one\ntwo\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := pipe(t)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan *Batch)
			done := make(chan error, 1)
			go func() { done <- NewReader("stdin", r, nil).Run(ctx, out) }()
			if tt.write != "" {
				_, err := w.WriteString(tt.write)
				require.NoError(t, err)
				require.Equal(t, "one", receive(t, out).Lines[0].Text)
			}
			cancel()
			require.NoError(t, receive(t, done))

			// The deadline is cleared: the same file reads again.
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			go func() { done <- NewReader("stdin", r, nil).Run(ctx2, out) }()
			_, err = w.WriteString("again\n")
			require.NoError(t, err)
			got := receive(t, out).Lines[0].Text
			require.Contains(t, []string{"two", "again"}, got)
			cancel2()
			require.NoError(t, receive(t, done))
		})
	}
}

package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/sources"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	dockerLog = "testdata/docker/containers/3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899/" +
		"3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899-json.log"
	criLog = "testdata/cri/pods/default_redis-0_0f1e2d3c-aaaa-bbbb-cccc-0123456789ab/redis/0.log"
)

// goldenLine is a decoded line as the golden files hold it.
type goldenLine struct {
	Text   string            `json:"text"`
	Time   time.Time         `json:"time"`
	Labels map[string]string `json:"labels"`
	Cursor string            `json:"cursor"`
}

// TestGolden decodes the container logs in testdata, with their format set and
// detected, and compares the lines with testdata/<format>.golden.json.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		format Format
		input  string
	}{
		{FormatDocker, dockerLog},
		{FormatCRI, criLog},
	} {
		for _, f := range []Format{tc.format, FormatAuto} {
			t.Run(string(tc.format)+"/"+string(f), func(t *testing.T) {
				in, err := os.Open(tc.input)
				require.NoError(t, err)
				defer in.Close()
				var got []goldenLine
				err = Scan(context.Background(), in, "replay", tc.input, f, func(l sources.Line) error {
					require.NotContains(t, l.Text, "\n")
					got = append(got, goldenLine{l.Text, l.Time.UTC(), l.Labels, l.Cursor.Position()})
					return nil
				})
				require.NoError(t, err)
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				golden := filepath.Join("testdata", string(tc.format)+".golden.json")
				if *update && f == tc.format {
					require.NoError(t, os.WriteFile(golden, append(b, '\n'), 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(b))
			})
		}
	}
}

func TestDecodeDockerJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, msg, stream string
		partial               bool
		err                   bool
	}{
		{name: "line", in: `{"log":"hello\n","stream":"stdout","time":"2025-01-02T03:04:05Z"}`, msg: "hello", stream: "stdout"},
		{name: "piece", in: `{"log":"hel","stream":"stderr","time":"2025-01-02T03:04:05Z"}`, msg: "hel", stream: "stderr", partial: true},
		{name: "crlf", in: `{"log":"hello\r\n","stream":"stdout","time":"2025-01-02T03:04:05Z"}`, msg: "hello", stream: "stdout"},
		{name: "escaped bad utf-8", in: "{\"log\":\"a\xffb\\n\",\"stream\":\"stdout\",\"time\":\"2025-01-02T03:04:05Z\"}", msg: "a\uFFFDb", stream: "stdout"},
		{name: "attrs ignored", in: `{"log":"x\n","stream":"stdout","attrs":{"k":"v"},"time":"2025-01-02T03:04:05Z"}`, msg: "x", stream: "stdout"},
		{name: "no stream", in: `{"log":"x\n","time":"2025-01-02T03:04:05Z"}`, err: true},
		{name: "no time", in: `{"log":"x\n","stream":"stdout"}`, err: true},
		{name: "not json", in: `hello`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, stream, tm, partial, err := DecodeDockerJSON([]byte(tc.in))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.msg, string(msg))
			require.Equal(t, tc.stream, stream)
			require.Equal(t, tc.partial, partial)
			require.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), tm.UTC())
		})
	}
}

func TestDecodeCRI(t *testing.T) {
	ts := "2025-01-02T03:04:05.000000001Z"
	for _, tc := range []struct {
		name, in, msg, stream string
		partial               bool
		err                   error
	}{
		{name: "full", in: ts + " stdout F hello world", msg: "hello world", stream: "stdout"},
		{name: "partial", in: ts + " stderr P hel", msg: "hel", stream: "stderr", partial: true},
		{name: "empty", in: ts + " stdout F ", msg: "", stream: "stdout"},
		{name: "empty without space", in: ts + " stdout F", msg: "", stream: "stdout"},
		{name: "more tags", in: ts + " stdout F:x msg", msg: "msg", stream: "stdout"},
		{name: "crlf", in: ts + " stdout F msg\r", msg: "msg", stream: "stdout"},
		{name: "short", in: ts + " stdout", err: errCRIShort},
		{name: "bad tag", in: ts + " stdout X msg", err: errCRITag},
		{name: "bad time", in: "now stdout F msg"},
		{name: "bad stream", in: ts + " stdin F msg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, stream, tm, partial, err := DecodeCRI([]byte(tc.in))
			if tc.msg == "" && tc.stream == "" {
				require.Error(t, err)
				if tc.err != nil {
					require.True(t, errors.Is(err, tc.err), err)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.msg, string(msg))
			require.Equal(t, tc.stream, stream)
			require.Equal(t, tc.partial, partial)
			require.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 1, time.UTC), tm.UTC())
		})
	}
}

func TestScan(t *testing.T) {
	t.Run("plain lines and a last line without newline", func(t *testing.T) {
		var got []string
		err := Scan(context.Background(), strings.NewReader("a\r\nb\n\nc"), "replay", "-", FormatAuto, func(l sources.Line) error {
			require.Nil(t, l.Labels)
			got = append(got, l.Text)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "", "c"}, got)
	})
	t.Run("an unfinished join is passed on at the end", func(t *testing.T) {
		var got []string
		in := "2025-01-02T03:04:05Z stdout P one \n2025-01-02T03:04:05Z stdout P two\n"
		err := Scan(context.Background(), strings.NewReader(in), "replay", "-", FormatCRI, func(l sources.Line) error {
			got = append(got, l.Text)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"one two"}, got)
	})
	t.Run("an error from fn stops the scan", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := Scan(context.Background(), strings.NewReader("a\nb\n"), "replay", "-", FormatPlain, func(sources.Line) error {
			n++
			return stop
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, n)
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Scan(ctx, bytes.NewReader(bytes.Repeat([]byte("x\n"), 10000)), "replay", "-", FormatPlain, func(sources.Line) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("unknown format", func(t *testing.T) {
		err := Scan(context.Background(), strings.NewReader(""), "replay", "-", "xml", func(sources.Line) error { return nil })
		require.Error(t, err)
	})
}

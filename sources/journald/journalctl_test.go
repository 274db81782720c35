package journald

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/cowbell-sidecar/cowbell/sources"
)

func TestDecodeJSON(t *testing.T) {
	const cursor = `s=1;i=2;b=3;m=4;t=5;x=6`
	tests := []struct {
		name    string
		line    string
		want    *entry
		wantErr string
	}{
		{
			name: "string fields",
			line: `{"__CURSOR":"` + cursor + `","__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"oom","_PID":"42","_COMM":"redis-server","PRIORITY":"3","_TRANSPORT":"kernel","_BOOT_ID":"b","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"kernel","_SYSTEMD_UNIT":"u.service","_UID":"0"}`,
			want: &entry{cursor: cursor, realtime: 1700000000123456, message: "oom", labels: map[string]string{
				"pid": "42", "comm": "redis-server", "priority": "3", "transport": "kernel", "boot_id": "b",
				"hostname": "h", "identifier": "kernel", "unit": "u.service",
			}},
		},
		{
			name: "byte array message",
			line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[104,105,9,255,10]}`,
			want: &entry{cursor: "c", realtime: 1, message: "hi\t\xff", labels: map[string]string{}},
		},
		{
			name: "field given twice: the first value",
			line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[[104,105],"second"],"_PID":["7","8"]}`,
			want: &entry{cursor: "c", realtime: 1, message: "hi", labels: map[string]string{"pid": "7"}},
		},
		{
			name: "null field is absent",
			line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":null,"_COMM":null}`,
			want: &entry{cursor: "c", realtime: 1, labels: map[string]string{}},
		},
		{name: "no cursor", line: `{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}`, wantErr: "decode journal entry: no __CURSOR"},
		{name: "bad timestamp", line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"soon"}`, wantErr: "__REALTIME_TIMESTAMP"},
		{name: "byte out of range", line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[256]}`, wantErr: "byte 0"},
		{name: "number field", line: `{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":5}`, wantErr: "unexpected 5"},
		{name: "not json", line: `-- No entries --`, wantErr: "decode journal entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeJSON([]byte(tt.line))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, e)
		})
	}
}

func TestCtlRead(t *testing.T) {
	good := `{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"1","MESSAGE":"one"}` + "\n"
	huge := `{"__CURSOR":"c2","__REALTIME_TIMESTAMP":"2","MESSAGE":"` + strings.Repeat("x", maxJSONLine) + `"}` + "\n"
	long := `{"__CURSOR":"c3","__REALTIME_TIMESTAMP":"3","MESSAGE":"` + strings.Repeat("y", 100<<10) + `"}` + "\n"
	input := good + "garbage\n" + huge + long + good
	m := sources.NewMetrics(nil)
	f := &ctlFollower{
		log:  zaptest.NewLogger(t),
		skip: func(reason string) { m.LinesSkipped.WithLabelValues("j", reason).Inc() },
	}
	var got []string
	err := f.read(strings.NewReader(input), func(e *entry) error {
		got = append(got, e.cursor+":"+e.message[:min(3, len(e.message))])
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"c1:one", "c3:yyy", "c1:one"}, got)
	require.InDelta(t, 1, testutil.ToFloat64(m.LinesSkipped.WithLabelValues("j", "undecodable")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.LinesSkipped.WithLabelValues("j", "too_long")), 0)

	err = f.read(io.MultiReader(strings.NewReader(good), errReader{}), func(*entry) error { return errStopped })
	require.ErrorIs(t, err, errStopped, "emit's error stops reading")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestCtlArgs(t *testing.T) {
	f := &ctlFollower{filter: filter{fields: []string{"SYSLOG_IDENTIFIER=-x", "_TRANSPORT=kernel"}}}
	common := "--output=json --all --follow --no-pager --quiet " +
		"--output-fields=MESSAGE,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_PID,_COMM,_TRANSPORT,_HOSTNAME,PRIORITY,_BOOT_ID "
	tests := []struct {
		name string
		dir  string
		from position
		want string
	}{
		{name: "end", from: position{start: sources.StartAtEnd, since: time.UnixMicro(1764770000_000042)}, want: common + "--since=@1764770000.000042 --no-tail --"},
		{name: "beginning", from: position{start: sources.StartAtBeginning}, want: common + "--no-tail --"},
		{name: "cursor", dir: "/host/journal", from: position{cursor: "s=1;i=2"}, want: common + "--directory=/host/journal --cursor=s=1;i=2 --"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want+" SYSLOG_IDENTIFIER=-x _TRANSPORT=kernel", strings.Join(f.args(tt.dir, tt.from), " "))
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	seeds, err := os.ReadFile("testdata/journalctl.json")
	require.NoError(f, err)
	sc := bufio.NewScanner(bytes.NewReader(seeds))
	for sc.Scan() {
		f.Add(sc.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeJSON(b)
		if err != nil {
			require.Nil(t, e)
			return
		}
		require.NotEmpty(t, e.cursor)
		require.False(t, strings.HasSuffix(e.message, "\n"), "no trailing newline")
		require.LessOrEqual(t, len(e.labels), len(labelFields))
	})
}

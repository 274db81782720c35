package file

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/sources"
)

// Real output of PostgreSQL 15 (csvlog and jsonlog of the same events: statements
// quoting incident phrases, one over two lines; an out-of-memory error under an
// address-space limit; a backend killed by SIGKILL and its crash restart; the
// postmaster killed and started again) and of `journalctl -o json` (two redis-server
// instances and bash failing to fork), made by rules/testdata/captures/capture-*.sh.
const (
	pgCSVLog  = "testdata/postgres-15.csv"
	pgJSONLog = "testdata/postgres-15.json"
	journal   = "testdata/journal.json"
)

// scanFile decodes a file as the live source would, format detected.
func scanFile(t *testing.T, path string) []sources.Line {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []sources.Line
	require.NoError(t, Scan(context.Background(), f, "test", path, FormatAuto, func(l sources.Line) error {
		require.NotContains(t, l.Text, "\n")
		lines = append(lines, l)
		return nil
	}))
	return lines
}

func texts(ls []sources.Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

// TestPostgresLogsDecodeAlike: csvlog and jsonlog of the same events decode to the
// same lines, in PostgreSQL's stderr layout: the message after its severity, then
// DETAIL and STATEMENT lines, on the records' own time.
func TestPostgresLogsDecodeAlike(t *testing.T) {
	csvLines, jsonLines := scanFile(t, pgCSVLog), scanFile(t, pgJSONLog)
	require.Equal(t, texts(csvLines), texts(jsonLines))
	for i := range csvLines {
		require.Equal(t, csvLines[i].Time, jsonLines[i].Time)
		require.Equal(t, 2026, csvLines[i].Time.Year(), "the record's log_time, not the read time")
	}
	all := strings.Join(texts(csvLines), "\n")
	for _, want := range []string{
		"UTC [%d] postgres@postgres ERROR:  out of memory\n",
		"UTC [%d] postgres@postgres DETAIL:  Failed on request of size 419430404 in memory context \"MessageContext\".\n",
		"UTC [%d] postgres@postgres STATEMENT:  select length(repeat('x', 400*1024*1024))\n",
		"UTC [%d] LOG:  server process (PID %d) was terminated by signal 9: Killed\n",
		"UTC [%d] DETAIL:  Failed process was running: select pg_sleep(60)\n",
		"UTC [%d] LOG:  database system was interrupted; last known up at",
		// The statement's newline is a space; its doubled quotes are single again.
		"LOG:  statement: select 'a \"quoted\" word' as a,        'ERROR:  out of memory' as b\n",
	} {
		re := strings.NewReplacer("[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, ".", `\.`, "*", `\*`, "%d", `\d+`).Replace(want)
		require.Regexp(t, re, all)
	}
}

// TestPostgresLogsMatchStderr: each decoded line is the stderr line of the same event,
// up to the prefix (the captured server ran log_line_prefix '%m [%p] ').
func TestPostgresLogsMatchStderr(t *testing.T) {
	b, err := os.ReadFile("../../rules/testdata/captures/postgres-15-stderr.log")
	require.NoError(t, err)
	stderr := string(b)
	for _, l := range scanFile(t, pgCSVLog) {
		_, msg, ok := strings.Cut(l.Text, "] ")
		require.True(t, ok, l.Text)
		msg = strings.TrimPrefix(msg, "postgres@postgres ")
		if strings.Contains(msg, "statement: select 'a") {
			continue // stderr continues it on a second line
		}
		require.Contains(t, stderr, "] "+msg+"\n", "the stderr log has the same event")
	}
}

// TestJournalJSONDecode: journal export JSON gives MESSAGE as the text,
// __REALTIME_TIMESTAMP as the time and the journald source's labels.
func TestJournalJSONDecode(t *testing.T) {
	lines := scanFile(t, journal)
	b, err := os.ReadFile(journal)
	require.NoError(t, err)
	records := bytes.Split(bytes.TrimSpace(b), []byte{'\n'})
	require.Len(t, lines, len(records))
	for i, rec := range records {
		var e map[string]any
		require.NoError(t, json.Unmarshal(rec, &e))
		require.Equal(t, e["MESSAGE"], lines[i].Text)
		us, err := strconv.ParseInt(e["__REALTIME_TIMESTAMP"].(string), 10, 64)
		require.NoError(t, err)
		require.True(t, time.UnixMicro(us).Equal(lines[i].Time))
		require.Equal(t, e["SYSLOG_IDENTIFIER"], lines[i].Labels[sources.LabelIdentifier])
		require.Equal(t, e["_PID"], lines[i].Labels[sources.LabelPID])
		require.Equal(t, e["_COMM"], lines[i].Labels[sources.LabelComm])
	}
	require.Contains(t, texts(lines), "bash: fork: Resource temporarily unavailable")
}

func TestDetectStructured(t *testing.T) {
	first := func(path string) []byte {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		l, _, _ := bytes.Cut(b, []byte{'\n'})
		return l
	}
	require.Equal(t, FormatPostgresCSV, detect(first(pgCSVLog)))
	require.Equal(t, FormatPostgresJSON, detect(first(pgJSONLog)))
	require.Equal(t, FormatJournalJSON, detect(first(journal)))
	for _, plain := range []string{
		"2026-12-03 13:08:06.407 UTC [24277] LOG:  starting PostgreSQL 15.18",
		`{"level":"info","msg":"an application's own JSON"}`,
		`{"timestamp":"2026-12-07 19:17:22.955 UTC","message":"no severity"}`,
		"2024-06-05 10:00:00,123 WARN a,b,c",
	} {
		require.Equal(t, FormatPlain, detect([]byte(plain)), plain)
	}
	require.Equal(t, FormatDocker, detect([]byte(`{"log":"x\n","stream":"stdout","time":"2024-06-05T10:00:00.000000000Z"}`)))
}

// TestDecodeBadRecords: a record that cannot be decoded is skipped and counted by
// reason, and the stream goes on.
func TestDecodeBadRecords(t *testing.T) {
	for _, tc := range []struct {
		format Format
		bad    string
		reason string
	}{
		{FormatJournalJSON, `{"__REALTIME_TIMESTAMP":"x","MESSAGE":"m"}`, reasonJournal},
		{FormatJournalJSON, `{"MESSAGE":"no time"}`, reasonJournal},
		{FormatPostgresJSON, `{"timestamp":"t","error_severity":"LOG"}`, reasonJSONLog},
		{FormatPostgresCSV, `2024-06-05 10:00:00.123 UTC,too,few`, reasonCSVLog},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			d := newDecoder(tc.format, 1024)
			var got []string
			var reasons []string
			emit := func(text []byte, _ time.Time, _ string, _ bool, _ int64) error {
				got = append(got, string(text))
				return nil
			}
			skip := func(reason string, _ error) { reasons = append(reasons, reason) }
			require.NoError(t, d.record([]byte(tc.bad), false, 10, time.Now(), emit, skip))
			require.Empty(t, got)
			require.Equal(t, []string{tc.reason}, reasons)
		})
	}
}

// TestCSVLogRecordOverLines: a csvlog record whose quoted field holds a newline waits
// for its last line; every line of a record but the last carries the record's start
// as its end, so a restart in between reads the record again.
func TestCSVLogRecordOverLines(t *testing.T) {
	rec := "2024-06-05 10:00:00.123 UTC,\"app\",\"shop\",4321,\"127.0.0.1:5000\",6660.10e1,2,\"SELECT\",2024-06-05 09:00:00 UTC,3/4,0,ERROR,53200,\"out of memory\",\"Failed on request of size 16 in memory context \"\"ExecutorState\"\".\",,,,,\"select 1,\n 2\",,,\"psql\",\"client backend\",,0"
	first, second, _ := strings.Cut(rec, "\n")
	d := newDecoder(FormatPostgresCSV, 4096)
	type out struct {
		text string
		end  int64
	}
	var got []out
	emit := func(text []byte, _ time.Time, _ string, _ bool, end int64) error {
		got = append(got, out{string(text), end})
		return nil
	}
	fail := func(reason string, err error) { t.Fatalf("skipped: %s %v", reason, err) }
	start := int64(100)
	d.startAt(start, 0)
	firstEnd := start + int64(len(first)) + 1
	require.NoError(t, d.record([]byte(first), false, firstEnd, time.Now(), emit, fail))
	require.Empty(t, got, "the record goes on")
	end := firstEnd + int64(len(second)) + 1
	require.NoError(t, d.record([]byte(second), false, end, time.Now(), emit, fail))
	require.Equal(t, []out{
		{"2024-06-05 10:00:00.123 UTC [4321] app@shop ERROR:  out of memory", start},
		{`2024-06-05 10:00:00.123 UTC [4321] app@shop DETAIL:  Failed on request of size 16 in memory context "ExecutorState".`, start},
		{"2024-06-05 10:00:00.123 UTC [4321] app@shop STATEMENT:  select 1,  2", end},
	}, got)
}

// TestRestartInCSVLogRecord stops the source after the first half of a csvlog record
// and after the first line of a record, writes the rest while it is down, and starts
// it again: the split record arrives whole, and the record whose first line was sent
// is sent again in full (at least once, never lost).
func TestRestartInCSVLogRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postgresql.csv")
	w := openAppend(t, path)
	const a = `2024-06-05 10:00:00.000 UTC,,,1,,6660.1,1,,2024-06-05 09:00:00 UTC,,0,LOG,00000,"ready",,,,,,,,,"","postmaster",,0` + "\n"
	const b1 = `2024-06-05 10:00:01.000 UTC,"app","shop",7,"127.0.0.1:5000",6660.7,1,"idle",2024-06-05 09:00:00 UTC,3/2,0,LOG,00000,"statement: select 1,`
	const b2 = ` 2",,,,,,,,,"psql","client backend",,0` + "\n"
	write(t, w, a+b1+"\n")
	c := testConfig(path)
	c.Format = FormatPostgresCSV
	h := start(t, c, nil)
	h.expect("2024-06-05 10:00:00.000 UTC [1] LOG:  ready")
	h.settle()
	h.stop()

	write(t, w, b2)
	h2 := start(t, c, h.cp)
	h2.expect("2024-06-05 10:00:01.000 UTC [7] app@shop LOG:  statement: select 1,  2")

	const oom = `2024-06-05 10:00:02.000 UTC,"app","shop",8,"127.0.0.1:5001",6660.8,1,"SELECT",2024-06-05 09:00:00 UTC,3/3,0,ERROR,53200,"out of memory","Failed on request of size 16.",,,,,"select 2",,,"psql","client backend",,0` + "\n"
	write(t, w, oom)
	h2.expect("2024-06-05 10:00:02.000 UTC [8] app@shop ERROR:  out of memory")
	h2.stop() // its DETAIL and STATEMENT lines were not received

	h3 := start(t, c, h2.cp)
	h3.expect(
		"2024-06-05 10:00:02.000 UTC [8] app@shop ERROR:  out of memory",
		"2024-06-05 10:00:02.000 UTC [8] app@shop DETAIL:  Failed on request of size 16.",
		"2024-06-05 10:00:02.000 UTC [8] app@shop STATEMENT:  select 2",
	)
}

package logtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	ref := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, text string
		want       time.Time
		ok         bool
	}{
		{"redis 7", "1:M 30 Nov 2026 03:12:09.114 # Can't save in background: fork: Cannot allocate memory",
			time.Date(2026, 11, 30, 3, 12, 9, 114e6, time.UTC), true},
		{"redis child", "4242:C 01 Dec 2025 23:59:59.999 * DB saved on disk",
			time.Date(2025, 12, 1, 23, 59, 59, 999e6, time.UTC), true},
		{"postgres %m", "2026-11-30 03:12:09.114 UTC [812] LOG:  server process (PID 901) was terminated by signal 9: Killed",
			time.Date(2026, 11, 30, 3, 12, 9, 114e6, time.UTC), true},
		{"postgres %t", "2026-11-30 03:12:09 UTC [812] LOG:  database system is ready to accept connections",
			time.Date(2026, 11, 30, 3, 12, 9, 0, time.UTC), true},
		{"rfc3339", "2026-11-30T03:12:09.5+01:00 kernel: Out of memory",
			time.Date(2026, 11, 30, 2, 12, 9, 5e8, time.UTC), true},
		{"syslog this year", "Jan  1 03:12:09 db-1 kernel: oom-kill:constraint=CONSTRAINT_NONE",
			time.Date(2026, 1, 1, 3, 12, 9, 0, time.UTC), true},
		{"syslog last year", "Dec 31 23:00:00 db-1 kernel: Out of memory",
			time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC), true},
		{"no stamp", "fork: Cannot allocate memory", time.Time{}, false},
		{"short", "x", time.Time{}, false},
		{"bad date", "1:M 31 Feb 2026 03:12:09.114 # x", time.Time{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Parse(c.text, time.UTC, ref)
			require.Equal(t, c.ok, ok)
			require.True(t, c.want.Equal(got), "got %v want %v", got, c.want)
		})
	}
}

func TestParseZone(t *testing.T) {
	ref := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	cases := []struct {
		name, text string
		zoned      bool
	}{
		{"postgres UTC", "2026-11-30 03:12:09.114 UTC [812] LOG:  x", true},
		{"postgres GMT", "2026-11-30 03:12:09 GMT [812] LOG:  x", true},
		{"rfc3339 Z", "2026-11-30T03:12:09Z x", true},
		{"rfc3339 offset", "2026-11-30T03:12:09.123456+05:30 x", true},
		{"postgres CET", "2026-11-30 03:12:09.114 CET [812] LOG:  x", false},
		{"redis", "1:M 30 Nov 2026 03:12:09.114 # x", false},
		{"syslog", "Nov 30 03:12:09 db-1 kernel: x", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, zoned, ok := ParseZone(c.text, berlin, ref)
			require.True(t, ok)
			require.Equal(t, c.zoned, zoned)
			if !zoned { // in loc: 03:12:09 Berlin time
				require.Equal(t, 3, got.In(berlin).Hour())
			}
		})
	}
	// CET is Berlin's own abbreviation in winter: the offset is loc's.
	got, _, ok := ParseZone("2026-11-30 03:12:09 CET x", berlin, ref)
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 11, 30, 2, 12, 9, 0, time.UTC), got.UTC())
}

// FuzzParse checks the hand-written parsers against the regexp reference: the same
// answer, to the instant, for any line.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1:M 30 Nov 2026 03:12:09.114 # Can't save in background",
		"4242:C 1 Dec 2025 23:59:59.999 * DB saved on disk",
		"2026-11-30 03:12:09.114 UTC [812] LOG:  x",
		"2026-11-30 03:12:09 CEST [812] LOG:  x",
		"2026-11-30T03:12:09.5+01:00 kernel: Out of memory",
		"2026-02-29T03:12:09Z x",
		"Feb 29 03:12:09 db-1 kernel: x",
		"Jan  1 03:12:09 db-1 kernel: x",
		"1:M 31 Feb 2026 03:12:09.114 # x",
	} {
		f.Add(s)
	}
	ref := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, s string) {
		for _, loc := range []*time.Location{time.UTC, berlin} {
			want, wok := refParse(s, loc, ref)
			got, gok := Parse(s, loc, ref)
			require.Equal(t, wok, gok, "%q in %v", s, loc)
			require.True(t, want.Equal(got), "%q in %v: got %v want %v", s, loc, got, want)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	ref := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lines := map[string]string{
		"redis":    "1:M 30 Nov 2026 03:12:09.114 # Background saving terminated with success",
		"postgres": "2026-11-30 03:12:09.114 UTC [812] LOG:  checkpoint starting: time",
		"syslog":   "Nov 30 03:12:09 db-1 kernel: [ 1234.5678] eth0: link up",
		"none":     "fork: Cannot allocate memory",
	}
	for _, impl := range []struct {
		name  string
		parse func(string, *time.Location, time.Time) (time.Time, bool)
	}{{"regexp", refParse}, {"hand", Parse}} {
		for _, kind := range []string{"redis", "postgres", "syslog", "none"} {
			b.Run("impl="+impl.name+"/line="+kind, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					impl.parse(lines[kind], time.UTC, ref)
				}
			})
		}
	}
}

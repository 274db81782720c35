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

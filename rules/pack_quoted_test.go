package rules_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// quotings are the ways logs quote a line without reporting it: a SQL statement
// logged by log_statement, log_min_duration_statement, the extended protocol or an
// error's STATEMENT line; bind parameters; Redis MONITOR's echo of a command; a
// redis-cli reply; sudo's log of a command line.
var quotings = []func(string) string{
	func(s string) string {
		return "2024-06-05 10:00:00.124 UTC [4321] app@shop LOG:  statement: INSERT INTO notes VALUES ('" + sqlQuote(s) + "')"
	},
	func(s string) string {
		return "2024-06-05 10:00:00.124 UTC [4321] app@shop LOG:  duration: 0.412 ms  statement: SELECT '" + sqlQuote(s) + "'"
	},
	func(s string) string {
		return "2024-06-05 10:00:00.124 UTC [4321] app@shop LOG:  execute <unnamed>: SELECT '" + sqlQuote(s) + "'"
	},
	func(s string) string {
		return "2024-06-05 10:00:00.124 UTC [4321] app@shop DETAIL:  parameters: $1 = '" + sqlQuote(s) + "'"
	},
	func(s string) string {
		return "2024-06-05 10:00:00.124 UTC [4321] app@shop STATEMENT:  select * from logs where msg = '" + sqlQuote(s) + "'"
	},
	func(s string) string {
		return `1717581660.123456 [0 127.0.0.1:50000] "SET" "incident:42" "` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	},
	func(s string) string {
		return `1717581660.123456 [0 lua] "LPUSH" "log" "` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	},
	func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
	func(s string) string { return `1) "` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
	func(s string) string {
		return "Jun  5 10:01:00 db1 sudo[3001]:    admin : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/grep '" + s + "' /var/log/syslog"
	},
}

func sqlQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// TestQuotedTextFiresNothing takes every line the pack's rules must match (their
// examples), quotes it in each way logs quote text, and requires that no rule fires:
// a statement or a MONITOR echo carrying an incident's words is not an incident.
func TestQuotedTextFiresNothing(t *testing.T) {
	rs, m := builtinPack(t)
	n := 0
	for _, r := range rs {
		for _, ex := range r.Examples.Match {
			for _, quote := range quotings {
				line := quote(ex)
				require.Empty(t, fired(m, line), "%s: a quoted example fires: %q", r.ID, line)
				n++
			}
		}
	}
	require.Greater(t, n, 300)
}

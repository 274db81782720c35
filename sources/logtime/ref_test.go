package logtime

import (
	"regexp"
	"time"
)

type refLayout struct {
	re     *regexp.Regexp // group 1 is the timestamp text
	layout string
	noYear bool // syslog: the year is the reference time's
}

var refLayouts = []refLayout{
	// Redis 3+: "<pid>:<role> 30 Nov 2026 03:12:09.114 # ..."; Redis 2: "[pid] 30 Nov 03:12:09.114 * ..." has no year.
	{re: regexp.MustCompile(`^\d+:[A-Z] (\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}\.\d{3})`), layout: "2 Jan 2006 15:04:05.000"},
	// PostgreSQL log_line_prefix '%m' (with zone) or '%t'.
	{re: regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [A-Z]{2,5})`), layout: "2006-01-02 15:04:05.000 MST"},
	{re: regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [A-Z]{2,5})`), layout: "2006-01-02 15:04:05 MST"},
	// RFC 3339 / ISO 8601 with a zone.
	{re: regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))`), layout: time.RFC3339Nano},
	// syslog (RFC 3164).
	{re: regexp.MustCompile(`^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})`), layout: time.Stamp, noYear: true},
}

// refParse is the first implementation, a regexp per layout: the reference the
// hand-written parsers are fuzzed against and the baseline of their benchmark.
func refParse(text string, loc *time.Location, ref time.Time) (t time.Time, ok bool) {
	// Every known stamp starts with a digit or a capital letter (a month): most
	// lines that carry none are turned away before any regexp runs.
	if len(text) < 15 || (text[0] < '0' || text[0] > '9') && (text[0] < 'A' || text[0] > 'Z') {
		return time.Time{}, false
	}
	for _, l := range refLayouts {
		m := l.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		t, err := time.ParseInLocation(l.layout, m[1], loc)
		if err != nil {
			continue
		}
		if l.noYear {
			t = t.AddDate(ref.Year(), 0, 0)
			if t.After(ref.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
		}
		return t, true
	}
	return time.Time{}, false
}

// Package logtime reads the timestamp a plain log line starts with, so windows and
// cooldowns run on the log's own time: in replay, and live where the stamp names its
// zone or the source says which zone its stamps are in. It knows the prefixes of the
// logs cowbell reads: Redis ("1:M 30 Nov 2026 03:12:09.114"), PostgreSQL
// ("2026-11-30 03:12:09.114 UTC"), RFC 3339, and syslog ("Nov 30 03:12:09"). The
// parsers are written out by hand: a line costs a few byte comparisons, not a regexp
// per layout.
package logtime

import "time"

// Parse returns the time a line starts with, in loc when the text has no zone. ref
// supplies the year of syslog stamps (the latest year that does not put the stamp
// more than a day after ref). ok is false when the line starts with no known stamp.
func Parse(text string, loc *time.Location, ref time.Time) (t time.Time, ok bool) {
	t, _, ok = ParseZone(text, loc, ref)
	return t, ok
}

// ParseZone is Parse that also reports whether the stamp names its own zone: an RFC
// 3339 offset, or PostgreSQL's UTC or GMT. Only such a stamp is the same instant
// whatever zone the reader is in; Redis and syslog stamps are the writer's local time.
func ParseZone(text string, loc *time.Location, ref time.Time) (t time.Time, zoned, ok bool) {
	// Every known stamp starts with a digit or a capital letter (a month): most
	// lines that carry none are turned away at the first byte.
	if len(text) < 15 {
		return time.Time{}, false, false
	}
	switch c := text[0]; {
	case isDigit(c):
		if t, ok := redis(text, loc); ok {
			return t, false, true
		}
		return isoDate(text, loc)
	case isUpper(c):
		t, ok := syslog(text, loc, ref)
		return t, false, ok
	}
	return time.Time{}, false, false
}

// redis reads "<pid>:<role> 30 Nov 2026 03:12:09.114" (Redis 3+).
func redis(s string, loc *time.Location) (time.Time, bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i+3 > len(s) || s[i] != ':' || !isUpper(s[i+1]) || s[i+2] != ' ' {
		return time.Time{}, false
	}
	s = s[i+3:]
	day, n := digits(s, 2) // "2 Jan" or "02 Jan"
	if n == 0 || n >= len(s) || s[n] != ' ' {
		return time.Time{}, false
	}
	s = s[n+1:] // "Jan 2006 15:04:05.000"
	if len(s) < 21 || s[3] != ' ' || s[8] != ' ' || s[17] != '.' {
		return time.Time{}, false
	}
	month, ok := monthOf(s[:3])
	if !ok {
		return time.Time{}, false
	}
	year, ok1 := fixed(s[4:8])
	hh, mm, sec, ok2 := clock(s[9:17])
	ms, ok3 := fixed(s[18:21])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return date(year, month, day, hh, mm, sec, ms*1e6, loc)
}

// isoDate reads "2026-11-30 03:12:09[.114] UTC" (PostgreSQL's %m or %t) and RFC 3339.
func isoDate(s string, loc *time.Location) (time.Time, bool, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') {
		return time.Time{}, false, false
	}
	if s[10] == 'T' {
		return rfc3339(s)
	}
	year, ok1 := fixed(s[0:4])
	month, ok2 := fixed(s[5:7])
	day, ok3 := fixed(s[8:10])
	hh, mm, sec, ok4 := clock(s[11:19])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return time.Time{}, false, false
	}
	rest, ms, stamp := s[19:], 0, s[:19]
	if len(rest) >= 4 && rest[0] == '.' {
		v, ok := fixed(rest[1:4])
		if !ok {
			return time.Time{}, false, false
		}
		rest, ms, stamp = rest[4:], v, s[:23]
	}
	if len(rest) < 3 || rest[0] != ' ' {
		return time.Time{}, false, false
	}
	n := 0
	for n+1 < len(rest) && n < 5 && isUpper(rest[n+1]) {
		n++
	}
	switch zone := rest[1 : 1+n]; {
	case zone == "UTC" || zone == "GMT":
		t, ok := date(year, time.Month(month), day, hh, mm, sec, ms*1e6, time.UTC)
		return t, ok, ok
	case n < 2:
		return time.Time{}, false, false
	default:
		// Another abbreviation has an offset only where loc defines it: leave it to
		// the time package, and do not call the result zoned.
		layout := "2006-01-02 15:04:05 MST"
		if len(stamp) == 23 {
			layout = "2006-01-02 15:04:05.000 MST"
		}
		t, err := time.ParseInLocation(layout, stamp+" "+zone, loc)
		return t, false, err == nil
	}
}

// rfc3339 reads "2026-11-30T03:12:09[.fraction](Z|±hh:mm)".
func rfc3339(s string) (time.Time, bool, bool) {
	end := 19
	if end < len(s) && s[end] == '.' {
		end++
		for end < len(s) && isDigit(s[end]) {
			end++
		}
		if end == 20 {
			return time.Time{}, false, false
		}
	}
	switch {
	case end < len(s) && s[end] == 'Z':
		end++
	case end+6 <= len(s) && (s[end] == '+' || s[end] == '-') && s[end+3] == ':':
		end += 6
	default:
		return time.Time{}, false, false
	}
	t, err := time.Parse(time.RFC3339Nano, s[:end])
	return t, err == nil, err == nil
}

// syslog reads "Nov 30 03:12:09" (RFC 3164), in the year that puts it no more than a
// day after ref.
func syslog(s string, loc *time.Location, ref time.Time) (time.Time, bool) {
	if s[3] != ' ' || s[6] != ' ' {
		return time.Time{}, false
	}
	month, ok := monthOf(s[:3])
	if !ok {
		return time.Time{}, false
	}
	var day int
	switch {
	case s[4] == ' ' && isDigit(s[5]):
		day = int(s[5] - '0')
	case isDigit(s[4]) && isDigit(s[5]):
		day = int(s[4]-'0')*10 + int(s[5]-'0')
	default:
		return time.Time{}, false
	}
	hh, mm, sec, ok := clock(s[7:15])
	if !ok {
		return time.Time{}, false
	}
	// A stamp without a year may be 29 February: check the day against a leap year.
	if _, ok := date(2000, month, day, hh, mm, sec, 0, loc); !ok {
		return time.Time{}, false
	}
	t := time.Date(ref.Year(), month, day, hh, mm, sec, 0, loc)
	if t.After(ref.Add(24 * time.Hour)) {
		t = time.Date(ref.Year()-1, month, day, hh, mm, sec, 0, loc)
	}
	return t, true
}

// date builds a time from fields and refuses what is out of range rather than
// normalizing it: 31 Feb is not 3 Mar.
func date(year int, month time.Month, day, hh, mm, sec, nsec int, loc *time.Location) (time.Time, bool) {
	if month < time.January || month > time.December || day < 1 || day > 31 || hh > 23 || mm > 59 || sec > 59 {
		return time.Time{}, false
	}
	if day > 28 && time.Date(year, month, day, 12, 0, 0, 0, time.UTC).Day() != day {
		return time.Time{}, false
	}
	return time.Date(year, month, day, hh, mm, sec, nsec, loc), true
}

// clock reads "15:04:05".
func clock(s string) (hh, mm, sec int, ok bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	hh, ok1 := fixed(s[0:2])
	mm, ok2 := fixed(s[3:5])
	sec, ok3 := fixed(s[6:8])
	return hh, mm, sec, ok1 && ok2 && ok3
}

// fixed reads s, all digits, as a number.
func fixed(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// digits reads up to max digits at the start of s and says how many it read.
func digits(s string, max int) (v, n int) {
	for n < len(s) && n < max && isDigit(s[n]) {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func monthOf(s string) (time.Month, bool) {
	for i, m := range months {
		if s == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// facilities are the syslog facility names, by number.
var facilities = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// ParseRecord decodes one /dev/kmsg record: a header "prio,seq,usec,flags[,...];",
// the message, then continuation lines " KEY=value" (such as SUBSYSTEM and DEVICE).
// The message's \xNN escapes are decoded, a decoded line break becoming a space. t is
// boot plus the record's microseconds since boot. labels hold facility (a name),
// priority (0-7), seq and each continuation key in lower case.
func ParseRecord(rec []byte, boot time.Time) (msg string, t time.Time, labels map[string]string, err error) {
	header, body, ok := bytes.Cut(rec, []byte{';'})
	if !ok {
		return "", time.Time{}, nil, errors.New("kmsg record: no ';' after the header")
	}
	fields := strings.Split(string(header), ",")
	if len(fields) < 4 {
		return "", time.Time{}, nil, fmt.Errorf("kmsg record: header %q: want prio,seq,usec,flags", header)
	}
	prio, err := strconv.ParseUint(fields[0], 10, 32)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("kmsg record: prio: %w", err)
	}
	seq, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return "", time.Time{}, nil, fmt.Errorf("kmsg record: seq: %w", err)
	}
	usec, err := strconv.ParseInt(fields[2], 10, 64)
	// A time.Duration holds about 292 years of microseconds; more than that
	// since boot is a damaged record, not a timestamp to wrap around.
	if err != nil || usec < 0 || usec > int64(math.MaxInt64/time.Microsecond) {
		return "", time.Time{}, nil, fmt.Errorf("kmsg record: usec %q: not a count of microseconds since boot", fields[2])
	}
	labels = map[string]string{
		"facility": facilityName(prio >> 3),
		"priority": strconv.FormatUint(prio&7, 10),
		"seq":      strconv.FormatUint(seq, 10),
	}
	text, rest, _ := bytes.Cut(body, []byte{'\n'})
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		kv, ok := bytes.CutPrefix(line, []byte{' '})
		if !ok {
			continue // not a continuation line
		}
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok && len(k) > 0 {
			key := strings.ToLower(unescape(k))
			if _, taken := labels[key]; !taken { // never facility, priority or seq
				labels[key] = unescape(v)
			}
		}
	}
	return unescape(text), boot.Add(time.Duration(usec) * time.Microsecond), labels, nil
}

// seqOf returns a record's sequence number without decoding the rest of it.
func seqOf(rec []byte) (uint64, bool) {
	_, rest, ok := bytes.Cut(rec, []byte{','})
	if !ok {
		return 0, false
	}
	s, _, ok := bytes.Cut(rest, []byte{','})
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(s), 10, 64)
	return seq, err == nil
}

func facilityName(f uint64) string {
	if f < uint64(len(facilities)) {
		return facilities[f]
	}
	return strconv.FormatUint(f, 10)
}

// unescape decodes the kernel's \xNN escapes (it escapes unprintable bytes and the
// backslash itself); a decoded line break becomes a space, so a message stays one line.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+3 < len(b) && b[i+1] == 'x' {
			if v, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8); err == nil {
				c = byte(v)
				i += 3
			}
		}
		if c == '\n' || c == '\r' {
			c = ' '
		}
		out = append(out, c)
	}
	return string(out)
}

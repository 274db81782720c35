package notifiers

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/cowbell-sidecar/cowbell/incidents"
)

// Truncate shortens s to at most limit bytes on a rune boundary, marking the cut with
// an ellipsis; receivers use it to fit their vendors' field limits.
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	if limit < len(mark) {
		return ""
	}
	i := limit - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + mark
}

// ErrTooLarge is Fit's error when an incident cannot be cut to fit at all (its key or
// labels alone are over the budget). It is not retried: the next attempt would be no
// smaller.
var ErrTooLarge = errors.New("payload does not fit the receiver's size limit")

// The cuts Fit makes, in order. Each is kept only if the payload still does not fit
// without the next.
const (
	firstLineCut  = 4 << 10 // lines are cut to 4 KiB first,
	secondLineCut = 512     // then to 512 bytes,
	lastLineCut   = 128     // and at last to 128
	textCut       = 1 << 10 // root cause, advice texts and dead ends
	fieldCut      = 256     // captures, labels, related lines
)

// Fit returns encode's payload of inc, cut to at most limit bytes. A payload that fits
// is inc's, untouched. One that does not is made from a copy of inc, cut step by step
// in this order until it fits, and says what was cut (Incident.Truncated):
//
//  1. lines (the incident's and related ones) longer than 4 KiB are cut to 4 KiB (a
//     line's start, where the message and its stamp are, stays);
//  2. the snapshot is trimmed: the process list, Redis INFO and PostgreSQL settings
//     are left out (the advice already quotes what it used of them);
//  3. lines are left out, oldest first, keeping the first (what opened the incident)
//     and as many of the newest as fit;
//  4. the lines left are cut to 512 bytes;
//  5. the snapshot is dropped;
//  6. the root cause, each piece of advice and each dead end are cut to 1 KiB;
//  7. captures, labels and related lines are cut to 256 bytes;
//  8. only the newest line is kept, cut to 128 bytes.
//
// If even that does not fit, Fit returns ErrTooLarge. Receivers call it with their
// vendor's budget (PagerDuty's 512 KB event, the webhook's max_body_bytes) and an
// encoder of the whole request body.
func Fit(inc *incidents.Incident, limit int, encode func(*incidents.Incident) ([]byte, error)) ([]byte, error) {
	body, err := encode(inc)
	if err != nil || len(body) <= limit {
		return body, err
	}
	c := *inc
	c.Lines = slices.Clone(inc.Lines)
	c.Related = slices.Clone(inc.Related)
	c.Truncated = &incidents.Truncated{Limit: limit, Size: len(body)}
	steps := []func(*incidents.Incident) bool{
		func(c *incidents.Incident) bool { return cutLines(c, firstLineCut) },
		trimSnapshot,
		nil, // dropping lines: a search, below
		func(c *incidents.Incident) bool { return cutLines(c, secondLineCut) },
		dropSnapshot,
		cutText,
		cutFields,
		func(c *incidents.Incident) bool { a, b := keepNewest(c), cutLines(c, lastLineCut); return a || b },
	}
	for _, step := range steps {
		if step == nil {
			body, err = dropLines(&c, encode, limit)
		} else if step(&c) {
			body, err = encode(&c)
		}
		if err != nil || len(body) <= limit {
			return body, err
		}
	}
	return nil, fmt.Errorf("%w: %d bytes after every cut, %d allowed", ErrTooLarge, len(body), limit)
}

// cutLines cuts every line (the incident's and related ones) longer than n bytes; it
// reports whether it cut one.
func cutLines(c *incidents.Incident, n int) bool {
	cut := 0
	for i, l := range c.Lines {
		if len(l.Text) > n {
			c.Lines[i].Text = Truncate(l.Text, n)
			cut++
		}
	}
	for i, r := range c.Related {
		if len(r.Line) > n {
			c.Related[i].Line = Truncate(r.Line, n)
			cut++
		}
	}
	if cut > 0 {
		c.Truncated.LineBytes = n
		c.Truncated.LinesCut = max(c.Truncated.LinesCut, cut)
	}
	return cut > 0
}

func trimSnapshot(c *incidents.Incident) bool {
	s := c.Snapshot
	if s == nil || (len(s.Processes) == 0 && len(s.Redis) == 0 && len(s.Postgres) == 0 && len(s.VMText) == 0) {
		return false
	}
	t := *s
	t.Processes, t.Redis, t.Postgres, t.VMText = nil, nil, nil, nil
	c.Snapshot = &t
	c.Truncated.Snapshot = "trimmed"
	return true
}

func dropSnapshot(c *incidents.Incident) bool {
	if c.Snapshot == nil {
		return false
	}
	c.Snapshot = nil
	c.Truncated.Snapshot = "dropped"
	return true
}

// dropLines keeps the first line and the most newest lines that fit, found by a
// search over how many to keep, and returns the payload of the largest count that
// fits (or of two lines, the least it keeps).
func dropLines(c *incidents.Incident, encode func(*incidents.Incident) ([]byte, error), limit int) ([]byte, error) {
	all := c.Lines
	dropped := c.Truncated.LinesDropped
	try := func(keep int) ([]byte, error) {
		c.Lines = append([]incidents.Line{all[0]}, all[len(all)-keep+1:]...)
		c.Truncated.LinesDropped = dropped + len(all) - keep
		return encode(c)
	}
	if len(all) <= 2 {
		return encode(c)
	}
	// keep is between 2 and len(all)-1 lines: find the largest that fits.
	lo, hi := 2, len(all)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		body, err := try(mid)
		if err != nil {
			return nil, err
		}
		if len(body) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return try(lo)
}

func cutText(c *incidents.Incident) bool {
	cut := false
	short := func(s string) string {
		t := Truncate(s, textCut)
		cut = cut || t != s
		return t
	}
	c.RootCause = short(c.RootCause)
	c.Advice = slices.Clone(c.Advice)
	for i := range c.Advice {
		c.Advice[i].Text = short(c.Advice[i].Text)
	}
	c.DeadEnds = slices.Clone(c.DeadEnds)
	for i := range c.DeadEnds {
		c.DeadEnds[i].Action, c.DeadEnds[i].Why = short(c.DeadEnds[i].Action), short(c.DeadEnds[i].Why)
	}
	c.Truncated.Text = c.Truncated.Text || cut
	return cut
}

func cutFields(c *incidents.Incident) bool {
	cut := false
	short := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := maps.Clone(m)
		for k, v := range out {
			if t := Truncate(v, fieldCut); t != v {
				out[k], cut = t, true
			}
		}
		return out
	}
	c.Captures, c.Labels = short(c.Captures), short(c.Labels)
	for i, r := range c.Related {
		if t := Truncate(r.Line, fieldCut); t != r.Line {
			c.Related[i].Line, cut = t, true
		}
		c.Related[i].Captures = short(r.Captures)
	}
	c.Truncated.Fields = c.Truncated.Fields || cut
	return cut
}

func keepNewest(c *incidents.Incident) bool {
	if len(c.Lines) <= 1 {
		return false
	}
	c.Truncated.LinesDropped += len(c.Lines) - 1
	c.Lines = c.Lines[len(c.Lines)-1:]
	return true
}

// Package termtext makes untrusted text safe to print on a terminal: log lines,
// captures from them, incident keys and endpoint answers reach cowbell's console
// output and its own log, and an escape sequence in one could rewrite the screen,
// set the window title or worse.
package termtext

import "strings"

// Clean replaces the control characters a terminal acts on with '?': C0 but tab, DEL,
// and C1 (U+0080–U+009F, which some terminals take as 8-bit controls: U+009B is CSI).
// Line breaks are replaced too, so one value stays on one line.
func Clean(s string) string {
	if !needs(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafe(r) {
			return '?'
		}
		return r
	}, s)
}

func unsafe(r rune) bool {
	return r < ' ' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0
}

// needs reports whether Clean has anything to replace, without allocating.
func needs(s string) bool {
	for _, r := range s {
		if unsafe(r) {
			return true
		}
	}
	return false
}

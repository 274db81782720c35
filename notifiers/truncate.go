package notifiers

import "unicode/utf8"

// Truncate shortens s to at most limit bytes on a rune boundary, marking the cut with
// an ellipsis; receivers use it to fit their vendors' field limits.
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	i := limit - len(mark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + mark
}

package journald

import "strings"

// Describe implements sources.Config.
func (c Config) Describe() string {
	d := "journal"
	dirs := c.Directories
	if c.Directory != "" {
		dirs = append([]string{c.Directory}, dirs...)
	}
	if len(dirs) > 0 {
		d += " in " + strings.Join(dirs, ", ")
	}
	var f []string
	for _, sel := range []struct {
		name string
		vals []string
	}{{"units", c.Units}, {"identifiers", c.Identifiers}, {"transports", c.Transports}} {
		if len(sel.vals) > 0 {
			f = append(f, sel.name+" "+strings.Join(sel.vals, ","))
		}
	}
	if len(f) > 0 {
		d += " (" + strings.Join(f, "; ") + ")"
	}
	return d
}

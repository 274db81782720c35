package journald

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Reader choices: how entries are read.
const (
	ReaderAuto       = "auto"       // sdjournal when libsystemd.so.0 loads, else journalctl
	ReaderSDJournal  = "sdjournal"  // libsystemd through cgo; a build without cgo refuses it
	ReaderJournalctl = "journalctl" // a `journalctl -o json --follow` child process
)

// Config is a journald source's configuration.
type Config struct {
	// Directory is a journal directory to read instead of the local journal, e.g. a
	// host's /var/log/journal mounted into a container.
	Directory string `yaml:"directory"`
	// Directories are more journal directories (/var/log/journal and /run/log/journal);
	// each is its own stream with its own cursor.
	Directories []string `yaml:"directories"`
	// Units are the units to read (any of them), matched as `journalctl -u` does: the
	// unit's own entries, PID 1's about it (UNIT=, e.g. an OOM kill of one of its
	// processes), its core dumps and other privileged daemons' entries about it; a
	// slice also reads the entries of its units. A name without a dot gets ".service"
	// appended.
	Units []string `yaml:"units"`
	// Identifiers are SYSLOG_IDENTIFIER values to read (any of them).
	Identifiers []string `yaml:"identifiers"`
	// Transports are _TRANSPORT values to read (any of them), e.g. kernel.
	Transports []string `yaml:"transports"`
	// Priority is the highest (least urgent) priority read, 0 (emerg) to 7 (debug).
	Priority int `yaml:"priority"`
	// StartAt is where to start without a checkpoint: "end" or "beginning".
	StartAt string `yaml:"start_at"`
	// Reader is one of "auto", "sdjournal" or "journalctl".
	Reader string `yaml:"reader"`
}

// DefaultConfig is a journald source's configuration before its YAML is applied:
// the local journal, every entry, from its end, with the best reader available.
var DefaultConfig = Config{Priority: 7, StartAt: "end", Reader: ReaderAuto}

// transports are the _TRANSPORT values journald writes.
var transports = []string{"audit", "driver", "syslog", "journal", "stdout", "kernel"}

// UnmarshalYAML decodes and checks a journald source configuration; it does no I/O.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if c.Priority < 0 || c.Priority > 7 {
		return yamlpos.At(yamlpos.Value(n, "priority"), "priority: %d is not between 0 and 7", c.Priority)
	}
	if _, err := sources.ParseStartAt(c.StartAt); err != nil {
		return yamlpos.At(yamlpos.Value(n, "start_at"), "start_at: %w", err)
	}
	switch c.Reader {
	case ReaderAuto, ReaderSDJournal, ReaderJournalctl:
	default:
		return yamlpos.At(yamlpos.Value(n, "reader"), "reader: %q is not auto, sdjournal or journalctl", c.Reader)
	}
	for i, d := range c.dirs() {
		if !filepath.IsAbs(d) {
			key := "directories"
			if i == 0 && c.Directory != "" {
				key = "directory"
			}
			return yamlpos.At(yamlpos.Value(n, key), "%s: %q is not an absolute path", key, d)
		}
	}
	lists := []struct {
		key    string
		values []string
	}{{"units", c.Units}, {"identifiers", c.Identifiers}, {"transports", c.Transports}}
	for _, l := range lists {
		for _, v := range l.values {
			if strings.TrimSpace(v) == "" {
				return yamlpos.At(yamlpos.Value(n, l.key), "%s: empty value", l.key)
			}
		}
	}
	for _, tr := range c.Transports {
		if !slices.Contains(transports, tr) {
			return yamlpos.At(yamlpos.Value(n, "transports"), "transports: %q is not one of %s",
				tr, strings.Join(transports, ", "))
		}
	}
	return nil
}

// dirs lists the journal directories to read, Directory first; none means the local
// journal.
func (c *Config) dirs() []string {
	var out []string
	for _, d := range append([]string{c.Directory}, c.Directories...) {
		if d != "" && !slices.Contains(out, filepath.Clean(d)) {
			out = append(out, filepath.Clean(d))
		}
	}
	return out
}

// filter is what a source reads of the journal: entries that match one of the unit
// terms (none: any entry) and every field of fields (one value of each).
type filter struct {
	// units are alternatives: an entry matches a term when it has every field=value
	// of it.
	units [][]string
	// fields are field=value matches: one value of each field given is needed.
	fields []string
}

// coredumpMessageID is the MESSAGE_ID of systemd-coredump's entries.
const coredumpMessageID = "fc2e22bc6ee647b6b90729ab34a250b1"

// unitTerms are the terms `journalctl -u unit` matches (systemd's
// add_matches_for_unit): the unit's own entries, core dumps of it logged by
// systemd-coredump, PID 1's entries about it, entries about it from daemons running as
// root, and for a slice the entries of the units in it. Entries about the unit carry
// its name in a field anyone can set, so all but the first need a trusted sender.
func unitTerms(unit string) [][]string {
	terms := [][]string{
		{"_SYSTEMD_UNIT=" + unit},
		{"MESSAGE_ID=" + coredumpMessageID, "_UID=0", "COREDUMP_UNIT=" + unit},
		{"_PID=1", "UNIT=" + unit},
		{"_UID=0", "OBJECT_SYSTEMD_UNIT=" + unit},
	}
	if strings.HasSuffix(unit, ".slice") {
		terms = append(terms, []string{"_SYSTEMD_SLICE=" + unit})
	}
	return terms
}

// filter turns the configuration into journal matches: units as journalctl -u, then
// the other filters, each OR within a field and AND across fields and with the units.
func (c *Config) filter() filter {
	var f filter
	for _, u := range c.Units {
		if !strings.Contains(u, ".") {
			u += ".service"
		}
		f.units = append(f.units, unitTerms(u)...)
	}
	for _, id := range c.Identifiers {
		f.fields = append(f.fields, "SYSLOG_IDENTIFIER="+id)
	}
	for _, tr := range c.Transports {
		f.fields = append(f.fields, "_TRANSPORT="+tr)
	}
	if c.Priority < 7 {
		for p := 0; p <= c.Priority; p++ {
			f.fields = append(f.fields, "PRIORITY="+strconv.Itoa(p))
		}
	}
	return f
}

// args lists the filter as journalctl's positional matches: each unit term with the
// other fields, the terms separated by "+" (journalctl has no AND of ORs).
func (f filter) args() []string {
	if len(f.units) == 0 {
		return f.fields
	}
	var out []string
	for i, term := range f.units {
		if i > 0 {
			out = append(out, "+")
		}
		out = append(append(out, term...), f.fields...)
	}
	return out
}

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
	// Units are _SYSTEMD_UNIT values to read (any of them); a name without a dot gets
	// ".service" appended.
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

// matches turns the filters into journal matches: entries must match one value of
// each field given (OR within a field, AND across fields).
func (c *Config) matches() []string {
	var m []string
	for _, u := range c.Units {
		if !strings.Contains(u, ".") {
			u += ".service"
		}
		m = append(m, "_SYSTEMD_UNIT="+u)
	}
	for _, id := range c.Identifiers {
		m = append(m, "SYSLOG_IDENTIFIER="+id)
	}
	for _, tr := range c.Transports {
		m = append(m, "_TRANSPORT="+tr)
	}
	if c.Priority < 7 {
		for p := 0; p <= c.Priority; p++ {
			m = append(m, "PRIORITY="+strconv.Itoa(p))
		}
	}
	return m
}

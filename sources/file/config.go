package file

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Format is how a file's records are encoded.
type Format string

// Formats. FormatAuto detects the format of each file from its first record.
const (
	FormatAuto   Format = "auto"
	FormatPlain  Format = "plain"
	FormatDocker Format = "docker"
	FormatCRI    Format = "cri"
)

// Valid reports whether f is a known format.
func (f Format) Valid() bool {
	switch f {
	case FormatAuto, FormatPlain, FormatDocker, FormatCRI:
		return true
	}
	return f.structured()
}

// Config is one file source: which files to follow and how to read them.
type Config struct {
	Paths        []string      `yaml:"paths"`          // files, globs, symlinks (e.g. /var/log/containers/*.log)
	Exclude      []string      `yaml:"exclude"`        // file name patterns a glob does not follow (default: compressed files)
	Format       Format        `yaml:"format"`         // default auto: detected per file from its first record
	StartAt      string        `yaml:"start_at"`       // "end" (default) | "beginning"; only for files without a checkpoint
	MaxLineBytes int           `yaml:"max_line_bytes"` // default 64 KiB; longer lines are cut, counted and marked
	FlushTimeout time.Duration `yaml:"flush_timeout"`  // a partial last line is sent after this (default 5s)
	PollInterval time.Duration `yaml:"poll_interval"`  // timers (flush, grace); without inotify, stat polling (default 250ms)
	// RescanInterval is how often every path is matched and every followed file
	// looked at while inotify watches them all: the safety net for changes it does
	// not report (a network file system). Default 10s.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// MaxOpenFiles caps the descriptors the source keeps for files it follows
	// (rotated files being drained come on top): past it the files idle longest are
	// closed, and opened again when they change. Default 1024, and at most a
	// quarter of the process's limit on open files.
	MaxOpenFiles int           `yaml:"max_open_files"`
	RotateGrace  time.Duration `yaml:"rotate_grace"` // a rotated file is drained this long (default 5s)
	DockerRoot   string        `yaml:"docker_root"`  // where config.v2.json lives
	// FollowRoots are directories a symlink among the files may lead into, besides
	// those the paths name (where each pattern begins): a link leading anywhere else
	// is refused, warned about and counted.
	FollowRoots []string `yaml:"follow_roots"`
	// TimeZone is the zone of plain-file stamps that do not name one (Redis, syslog):
	// an IANA name, UTC or Local. Unset, such lines take their read time; stamps that
	// name their zone (RFC 3339, PostgreSQL's UTC) are the lines' time either way.
	TimeZone string `yaml:"time_zone"`
}

// DefaultConfig holds the defaults a decoded Config starts from.
var DefaultConfig = Config{
	Exclude:      DefaultExclude,
	Format:       FormatAuto,
	StartAt:      "end",
	MaxLineBytes: 64 << 10,
	FlushTimeout: 5 * time.Second,
	PollInterval: 250 * time.Millisecond,
	RotateGrace:  5 * time.Second,

	RescanInterval: 10 * time.Second,
	MaxOpenFiles:   1024,
	DockerRoot:     "/var/lib/docker/containers",
}

// DefaultExclude are the names a glob does not follow by default: compressed files,
// which are rotated generations of a log (read as such after a restart), not text.
var DefaultExclude = []string{"*.gz", "*.bz2", "*.xz", "*.zst", "*.lz4", "*.zip", "*.Z"}

// Limits on max_line_bytes.
const (
	minLineBytes = 64
	maxLineBytes = 64 << 20
)

// minOpenFiles is the least max_open_files.
const minOpenFiles = 4

// cutMark ends a line that was longer than MaxLineBytes.
const cutMark = " …[cut]"

// UnmarshalYAML sets the defaults, decodes strictly and checks the values, pointing
// at the offending key. It does no I/O.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = DefaultConfig
	type plain Config
	if err := yamlpos.DecodeStrict(n, (*plain)(c)); err != nil {
		return err
	}
	if key, err := c.check(); err != nil {
		at := field(n, key)
		if at == nil {
			at = n
		}
		return yamlpos.At(at, "%s: %w", key, err)
	}
	return nil
}

// check validates c and names the key at fault.
func (c *Config) check() (key string, err error) {
	switch {
	case len(c.Paths) == 0:
		return "paths", fmt.Errorf("at least one path is required")
	case !c.Format.Valid():
		return "format", fmt.Errorf("unknown format %q (want auto, plain, docker, cri, csvlog, jsonlog or journal-json)", c.Format)
	case c.StartAt != "end" && c.StartAt != "beginning":
		return "start_at", fmt.Errorf("unknown value %q (want end or beginning)", c.StartAt)
	case c.MaxLineBytes < minLineBytes || c.MaxLineBytes > maxLineBytes:
		return "max_line_bytes", fmt.Errorf("%d is outside %d..%d", c.MaxLineBytes, minLineBytes, maxLineBytes)
	case c.FlushTimeout <= 0:
		return "flush_timeout", fmt.Errorf("must be positive")
	case c.PollInterval <= 0:
		return "poll_interval", fmt.Errorf("must be positive")
	case c.RotateGrace < 0:
		return "rotate_grace", fmt.Errorf("must not be negative")
	case c.RescanInterval <= 0:
		return "rescan_interval", fmt.Errorf("must be positive")
	case c.MaxOpenFiles < minOpenFiles:
		return "max_open_files", fmt.Errorf("%d is less than %d", c.MaxOpenFiles, minOpenFiles)
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return "time_zone", fmt.Errorf("%q: %w", c.TimeZone, err)
		}
	}
	for _, p := range c.Paths {
		if p == "" {
			return "paths", fmt.Errorf("empty path")
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return "paths", fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	for _, p := range c.FollowRoots {
		if p == "" || hasMeta(p) {
			return "follow_roots", fmt.Errorf("%q is not a directory path", p)
		}
	}
	for _, p := range c.Exclude {
		if p == "" || strings.Contains(p, "/") {
			return "exclude", fmt.Errorf("%q is not a file name pattern", p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return "exclude", fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return "", nil
}

// withDefaults fills the zero fields of a Config built in code.
func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Exclude == nil {
		c.Exclude = d.Exclude
	}
	if c.Format == "" {
		c.Format = d.Format
	}
	if c.StartAt == "" {
		c.StartAt = d.StartAt
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = d.MaxLineBytes
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = d.FlushTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if c.RotateGrace == 0 {
		c.RotateGrace = d.RotateGrace
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = d.RescanInterval
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = d.MaxOpenFiles
	}
	if c.DockerRoot == "" {
		c.DockerRoot = d.DockerRoot
	}
	return c
}

// excluded reports whether a file a glob matched is left alone by its name.
func (c *Config) excluded(path string) bool {
	name := filepath.Base(path)
	for _, p := range c.Exclude {
		if ok, _ := filepath.Match(p, name); ok { // patterns were checked
			return true
		}
	}
	return false
}

// startAt maps the start_at setting to its mode.
func (c *Config) startAt() sources.StartAt {
	if c.StartAt == "beginning" {
		return sources.StartAtBeginning
	}
	return sources.StartAtEnd
}

// rawMax is the longest record kept for container formats: a Docker or CRI record
// carries at most 16 KiB of message, JSON escaping can grow that sixfold.
func (c *Config) rawMax() int {
	return max(4*c.MaxLineBytes, 128<<10)
}

// field returns the value node of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

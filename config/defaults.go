package config

import (
	"os"
	"path/filepath"

	"github.com/cowbell-sidecar/cowbell/notifiers/console"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/journald"
	"github.com/cowbell-sidecar/cowbell/sources/kmsg"
)

// Probe is what Defaults looks at; tests swap it for a fixture tree.
type Probe struct {
	// Root prefixes every path looked at ("" = /).
	Root string
	// Getenv reads the environment.
	Getenv func(string) string
	// Euid is the effective user id (root gets /var/lib/cowbell).
	Euid int
	// HomeDir is the user's home, for the user state directory.
	HomeDir string
}

// LiveProbe looks at this machine.
func LiveProbe() Probe {
	home, _ := os.UserHomeDir()
	return Probe{Getenv: os.Getenv, Euid: os.Geteuid(), HomeDir: home}
}

// DefaultNotifiers is the console notifier, used when a configuration names none.
func DefaultNotifiers() []Notifier {
	return []Notifier{{Name: "console", Type: "console", Config: console.DefaultConfig}}
}

// Well-known log locations the embedded defaults watch when they exist.
var (
	redisLogs     = []string{"/var/log/redis/*.log"}
	postgresLogs  = []string{"/var/log/postgresql/*.log", "/var/lib/pgsql/data/log/*.log", "/var/lib/pgsql/*/data/log/*.log"}
	containerLogs = []string{"/var/log/containers/*.log"}
	dockerLogs    = []string{"/var/lib/docker/containers/*/*-json.log"}
	// containerRoots are where the links in /var/log/containers lead.
	containerRoots = []string{"/var/log/pods", "/var/lib/docker/containers"}
	journalDirs    = []string{"/var/log/journal", "/run/log/journal"}
)

// Defaults is the configuration `cowbell run` uses with no file: the built-in pack,
// the console notifier, the journal if one is readable (else the kernel ring buffer),
// the usual Redis and PostgreSQL log directories and container log directories that
// exist, and
// state in $STATE_DIRECTORY or a user state directory.
func Defaults(p Probe) *Config {
	c := Default
	c.StateDir = DefaultStateDir(p)
	c.Notifiers = DefaultNotifiers()
	add := func(name string, globs []string, format file.Format, roots ...string) {
		var found []string
		for _, g := range globs {
			// A log directory that exists is watched even while empty: files that
			// appear in it later are picked up.
			if dirs, _ := filepath.Glob(filepath.Join(p.Root, filepath.Dir(g))); len(dirs) > 0 {
				found = append(found, filepath.Join(p.Root, g))
			}
		}
		if len(found) == 0 {
			return
		}
		fc := file.DefaultConfig
		fc.Paths, fc.Format = found, format
		for _, r := range roots {
			fc.FollowRoots = append(fc.FollowRoots, filepath.Join(p.Root, r))
		}
		c.Sources = append(c.Sources, Source{Name: name, Type: "file", Config: fc})
	}
	add("redis", redisLogs, file.Format("plain"))
	add("postgres", postgresLogs, file.Format("plain"))
	// kubelet's links lead into its pod directories, or on cri-dockerd nodes into
	// Docker's container directories.
	add("containers", containerLogs, file.Format("auto"), containerRoots...)
	add("docker", dockerLogs, file.Format("docker"))
	if dirs := readableDirs(p.Root, journalDirs); len(dirs) > 0 {
		jc := journald.DefaultConfig
		if p.Root != "" {
			jc.Directories = dirs
		}
		c.Sources = append(c.Sources, Source{Name: "journal", Type: "journald", Config: jc})
	} else if readable(filepath.Join(p.Root, "/dev/kmsg")) {
		kc := kmsg.DefaultConfig
		kc.Path = filepath.Join(p.Root, "/dev/kmsg")
		c.Sources = append(c.Sources, Source{Name: "kernel", Type: "kmsg", Config: kc})
	}
	return &c
}

// DefaultStateDir is where state lives when the configuration names no state_dir:
// $STATE_DIRECTORY (systemd's StateDirectory=), /var/lib/cowbell for root, else the
// user's state directory.
func DefaultStateDir(p Probe) string {
	if d := p.Getenv("STATE_DIRECTORY"); d != "" { // systemd's StateDirectory=
		return filepath.SplitList(d)[0]
	}
	if p.Euid == 0 {
		return filepath.Join(p.Root, "/var/lib/cowbell")
	}
	if d := p.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "cowbell")
	}
	return filepath.Join(p.HomeDir, ".local", "state", "cowbell")
}

func readableDirs(root string, dirs []string) []string {
	var out []string
	for _, d := range dirs {
		d = filepath.Join(root, d)
		if ents, err := os.ReadDir(d); err == nil && len(ents) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func readable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

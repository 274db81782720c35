// Package testenv finds the real components integration tests run against
// (journald, redis-server, PostgreSQL, Alertmanager). A missing component skips the
// test on a developer's machine and fails it under CI, where `make test` installs it.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CI reports whether the tests run under CI (the CI environment variable is set).
func CI() bool { return os.Getenv("CI") != "" }

// Missing skips t, or fails it under CI, because a component is not available.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("missing under CI: "+format, args...)
	}
	t.Skipf("missing: "+format, args...)
}

// NeedBinary returns the path of a program, looking in PATH and then in extra
// directories (PostgreSQL's are versioned: /usr/lib/postgresql/*/bin).
func NeedBinary(t testing.TB, name string, extraGlobs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, g := range extraGlobs {
		matches, _ := filepath.Glob(filepath.Join(g, name))
		if len(matches) > 0 {
			return matches[len(matches)-1]
		}
	}
	Missing(t, "program %s (make test installs it)", name)
	return ""
}

// NeedRoot skips (or fails under CI) a test that must run as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root")
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

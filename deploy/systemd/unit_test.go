// Package systemd_test checks the shipped unit with systemd's own tools.
package systemd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

const unit = "cowbell.service"

// maxExposure is the highest `systemd-analyze security` exposure the unit may have;
// the issue asks for at most 2.0, Debian's redis-server unit rates 1.2.
const maxExposure = 1.3

// TestUnitSecurity rates the unit's sandbox offline, as `systemd-analyze security
// --offline=true` does for an administrator, and holds the score.
func TestUnitSecurity(t *testing.T) {
	sa := testenv.NeedBinary(t, "systemd-analyze")
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(unit) + `: ([0-9.]+) (\S+)`).FindSubmatch(out)
	require.NotNil(t, m, "no overall exposure in:\n%s", out)
	score, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	require.LessOrEqual(t, score, maxExposure, "exposure %s %s; the checks it fails:\n%s", m[1], m[2], failed(out))
}

// failed keeps the ✗ lines of systemd-analyze's table: what raises the score.
func failed(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestUnitVerify loads the unit as systemd would (`systemd-analyze verify`, which
// needs no running systemd): an unknown key, a bad value or a missing command is
// reported, and any report fails the test. The binary's path is pointed at an
// executable that exists here, since verify checks that every command does.
func TestUnitVerify(t *testing.T) {
	sa := testenv.NeedBinary(t, "systemd-analyze")
	b, err := os.ReadFile(unit)
	require.NoError(t, err)
	require.Contains(t, string(b), "/usr/local/bin/cowbell")
	dir := t.TempDir()
	path := filepath.Join(dir, unit)
	require.NoError(t, os.WriteFile(path, bytes.ReplaceAll(b, []byte("/usr/local/bin/cowbell"), []byte("/bin/true")), 0o644))
	cmd := exec.Command(sa, "verify", "--man=no", path)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Run(), "%s", stderr.String())
	require.Empty(t, stderr.String(), "systemd-analyze verify reports problems")
}

// TestUnitKeepsWhatCowbellNeeds guards the settings that make the unit work, not
// only score well: a sandbox that scores 0 but cannot read /proc or reach a notifier
// would pass the security test.
func TestUnitKeepsWhatCowbellNeeds(t *testing.T) {
	b, err := os.ReadFile(unit)
	require.NoError(t, err)
	keys := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for _, want := range []struct{ key, value, why string }{
		{"Type", "notify", "readiness and the watchdog go through sd_notify"},
		{"ExecStartPre", "/usr/local/bin/cowbell check --config /etc/cowbell/cowbell.yaml", "a broken config fails before start"},
		{"ExecReload", "/usr/local/bin/cowbell check --config /etc/cowbell/cowbell.yaml", "a broken config fails the reload"},
		{"ExecReload", "/bin/kill -HUP $MAINPID", "reload is SIGHUP"},
		{"StateDirectory", "cowbell", "state is written in /var/lib/cowbell"},
		{"SupplementaryGroups", "systemd-journal adm", "the journal and /var/log are read through groups"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX", "notifiers, metrics, sd_notify"},
		{"ReadOnlyPaths", "/var/log", "the logs"},
	} {
		require.Contains(t, keys[want.key], want.value, "%s=%s: %s", want.key, want.value, want.why)
	}
	require.NotEmpty(t, keys["WatchdogSec"])
	require.NotEmpty(t, keys["StartLimitBurst"], "a failing start must stop, not loop")
	for _, hides := range []string{"ProtectProc", "ProcSubset", "PrivateNetwork"} {
		for _, v := range keys[hides] {
			require.NotContains(t, []string{"invisible", "noaccess", "ptraceable", "pid", "yes"}, v,
				"%s=%s hides what the snapshot reads (other users' processes, /proc/sys) or the network", hides, v)
		}
	}
}

package validate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// TestComposeExample loads deploy/compose as docker compose does (compose-go: the
// compose schema, interpolation, references between services, volumes and secrets),
// checks that cowbell runs there as the image and the manifests run it, and that the
// cowbell.yaml it mounts passes `cowbell check`.
func TestComposeExample(t *testing.T) {
	dir, err := filepath.Abs("../compose")
	require.NoError(t, err)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithResolvedPaths(true))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err)
	require.Equal(t, "cowbell-example", p.Name)
	require.ElementsMatch(t, []string{"log-dirs", "redis", "postgres", "cowbell"}, p.ServiceNames())

	redis, err := p.GetService("redis")
	require.NoError(t, err)
	// The image's entrypoint sets umask 0077: the log would be 0600, unreadable to cowbell.
	require.Equal(t, types.ShellCommand{"redis-server"}, redis.Entrypoint)

	c, err := p.GetService("cowbell")
	require.NoError(t, err)
	require.Equal(t, "65532:65532", c.User)
	require.True(t, c.ReadOnly)
	require.Equal(t, []string{"ALL"}, c.CapDrop)
	require.Contains(t, c.SecurityOpt, "no-new-privileges:true")
	require.NotContains(t, c.Image, ":latest")
	require.Equal(t, types.ShellCommand{"run", "--config", "/etc/cowbell/cowbell.yaml"}, c.Command)
	var config string
	for _, v := range c.Volumes {
		switch v.Target {
		case "/etc/cowbell/cowbell.yaml":
			config = v.Source
			require.True(t, v.ReadOnly)
		case "/var/log/app":
			require.True(t, v.ReadOnly, "the logs are read-only for cowbell")
		case "/var/lib/cowbell":
			require.False(t, v.ReadOnly, "state is written")
		}
	}
	require.NotEmpty(t, config, "cowbell.yaml is mounted")
	require.Len(t, c.Ports, 1)
	require.Equal(t, "127.0.0.1", c.Ports[0].HostIP, "metrics only on the host's loopback")
	require.Equal(t, uint32(9464), c.Ports[0].Target)

	// The configuration the example mounts: loaded and checked by cowbell itself, with
	// the secrets compose mounts at /run/secrets/<name> read from the files it takes
	// them from (check reads them: a missing DSN file is a configuration error).
	text, err := os.ReadFile(config)
	require.NoError(t, err)
	mounted := string(text)
	for name, sec := range p.Secrets {
		mounted = strings.ReplaceAll(mounted, "/run/secrets/"+name, sec.File)
	}
	require.NotContains(t, mounted, "/run/secrets/", "every secret cowbell.yaml reads is one compose mounts")
	config = filepath.Join(t.TempDir(), "cowbell.yaml")
	require.NoError(t, os.WriteFile(config, []byte(mounted), 0o600))
	check := exec.Command(cowbellBinary(t), "check", "--config", config)
	check.Env = append(os.Environ(), "HOST_NAME=compose-test")
	out, err := check.CombinedOutput()
	require.NoError(t, err, "cowbell check %s:\n%s", config, out)
	require.True(t, strings.HasPrefix(string(out), "ok:"), "%s", out)
}

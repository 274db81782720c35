package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/testenv"
)

// TestDeployExamples parses the configurations the deploy/ examples ship: the example
// file, and the cowbell.yaml of every Kubernetes ConfigMap, so an example that does
// not load is caught here and not by whoever copies it.
func TestDeployExamples(t *testing.T) {
	env := func(name string) (string, bool) { return "value-of-" + name, true }
	parsed := map[string]*Config{}

	c, err := Parse("cowbell.example.yaml", readFile(t, "../deploy/cowbell.example.yaml"), env)
	require.NoError(t, err)
	parsed["example"] = c

	manifests, err := filepath.Glob("../deploy/kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, manifests)
	for _, m := range manifests {
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, m)))
		for {
			var doc struct {
				Kind string            `yaml:"kind"`
				Data map[string]string `yaml:"data"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, m)
			if doc.Kind != "ConfigMap" || doc.Data["cowbell.yaml"] == "" {
				continue
			}
			c, err := Parse(m, []byte(doc.Data["cowbell.yaml"]), env)
			require.NoError(t, err, m)
			parsed[filepath.Base(m)] = c
		}
	}
	require.Contains(t, parsed, "daemonset.yaml")
	require.Contains(t, parsed, "redis-sidecar.yaml")
	require.Equal(t, "value-of-NODE_NAME", parsed["redis-sidecar.yaml"].Host)
}

// TestAlertRules checks the alerts shipped for cowbell itself with promtool: the rules
// load, and their unit tests (each alert fires on trouble and stays silent otherwise,
// annotations as rendered) pass. The e2e test checks every metric they use is served.
func TestAlertRules(t *testing.T) {
	promtool := testenv.NeedBinary(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "cowbell-alerts.yaml"},
		{"test", "rules", "cowbell-alerts.test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../deploy/prometheus"
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

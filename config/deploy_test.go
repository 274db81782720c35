package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
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

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

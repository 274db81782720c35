package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// A minimal configuration of every plug-in type, with a secret where the type takes
// one: each must decode, describe itself without the secret, and be built.
var (
	sourceSamples = map[string]string{
		"file":     "paths: [/var/log/redis/*.log]",
		"journald": "units: [redis-server]",
		"kmsg":     "start_at: beginning",
		"stdin":    "",
	}
	notifierSamples = map[string]string{
		"console":      "output: stderr",
		"webhook":      "url: https://hooks.example.com/T0KEN\nsecret: T0KEN",
		"slack":        "webhook_url: https://hooks.slack.com/services/T0KEN",
		"zenduty":      "url: https://www.zenduty.com/api/events/T0KEN/",
		"pagerduty":    "routing_key: T0KEN",
		"alertmanager": "urls: [http://am-0:9093]\nusername: cowbell\npassword: T0KEN",
	}
)

func TestPluginTables(t *testing.T) {
	require.ElementsMatch(t, SourceTypes(), keysOf(sourceSamples), "a sample for every source type")
	require.ElementsMatch(t, NotifierTypes(), keysOf(notifierSamples), "a sample for every receiver type")
	var doc strings.Builder
	doc.WriteString("sources:\n")
	for _, typ := range SourceTypes() {
		doc.WriteString("  - name: s-" + typ + "\n    type: " + typ + "\n" + indent(sourceSamples[typ]))
	}
	doc.WriteString("notifiers:\n")
	for _, typ := range NotifierTypes() {
		doc.WriteString("  - name: n-" + typ + "\n    type: " + typ + "\n" + indent(notifierSamples[typ]))
	}
	c, err := Parse("plugins.yaml", []byte(doc.String()), func(string) (string, bool) { return "", false })
	require.NoError(t, err, doc.String())
	for _, s := range c.Sources {
		require.Equal(t, "s-"+s.Type, s.Name)
		require.NotEmpty(t, s.Describe(), s.Type)
		src, err := s.New(sources.Deps{Log: zap.NewNop()})
		if s.Type == "journald" && err != nil {
			continue // the reader may be missing here; the journald tests cover it
		}
		require.NoError(t, err, s.Type)
		require.Equal(t, s.Name, src.Name())
	}
	for _, n := range c.Notifiers {
		d := n.Describe()
		require.NotEmpty(t, d, n.Type)
		require.NotContains(t, d, "T0KEN", n.Type)
		_, err := n.New(notifiers.Deps{Log: zap.NewNop()})
		require.NoError(t, err, n.Type)
	}
}

// TestPluginErrors: a bad setting is reported at its place, with the plug-in's name,
// and an unknown type lists the known ones.
func TestPluginErrors(t *testing.T) {
	_, err := Parse("c.yaml", []byte("notifiers:\n  - name: hook\n    type: webhook\n    url: https://x/\n    timeout: -1s\n"), noEnv)
	require.ErrorContains(t, err, `c.yaml:5:14: notifier "hook": timeout must not be negative`)
	_, err = Parse("c.yaml", []byte("notifiers:\n  - {name: x, type: sms}\n"), noEnv)
	require.ErrorContains(t, err, `c.yaml:2:21: notifier "x": unknown type "sms" (want one of [console webhook slack zenduty pagerduty alertmanager])`)
	_, err = Parse("c.yaml", []byte("sources:\n  - {name: in, type: stdin, path: /dev/stdin}\n"), noEnv)
	require.ErrorContains(t, err, `c.yaml:2:29: source "in": unknown field "path"`)

	// A receiver that cannot be built (its secret file is missing) says where it is
	// configured.
	c, err := Parse("c.yaml", []byte("notifiers:\n  - {name: pd, type: pagerduty, routing_key_file: /nonexistent/pd}\n"), noEnv)
	require.NoError(t, err, "decoding reads no file")
	_, err = c.Notifiers[0].New(notifiers.Deps{Log: zap.NewNop()})
	var pe *yamlpos.Error
	require.True(t, errors.As(err, &pe))
	require.Equal(t, 2, pe.Line)
	require.ErrorContains(t, err, `notifier "pd": pagerduty: routing_key_file: read secret file`)
}

func noEnv(string) (string, bool) { return "", false }

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

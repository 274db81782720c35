package alertmanager

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/notifierstest"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		want            Config
	}{
		{"minimal", "urls: [http://am:9093]\n", "",
			Config{URLs: []string{"http://am:9093"}, ResendInterval: time.Minute, HTTPConfig: notifiers.DefaultHTTPConfig}},
		{"full", "urls: [http://a:9093, https://b/am/]\nresend_interval: 30s\nlabels: {cluster: prod}\nusername: cowbell\npassword_file: /run/pw\n", "",
			Config{URLs: []string{"http://a:9093", "https://b/am/"}, ResendInterval: 30 * time.Second, HTTPConfig: notifiers.DefaultHTTPConfig,
				Labels: map[string]string{"cluster": "prod"}, Username: "cowbell", PasswordFile: "/run/pw"}},
		{"generator url", "urls: [http://am:9093]\ngenerator_url: 'https://grafana/d/x?host={host}'\n", "",
			Config{URLs: []string{"http://am:9093"}, ResendInterval: time.Minute, HTTPConfig: notifiers.DefaultHTTPConfig, GeneratorURL: "https://grafana/d/x?host={host}"}},
		{"bad generator url", "urls: [http://am:9093]\ngenerator_url: '{host}/metrics'\n", "2:16: generator_url: not an absolute http or https URL", Config{}},
		{"no urls", "resend_interval: 1m\n", "1:1: urls: at least one Alertmanager URL is required", Config{}},
		{"bad url", "urls:\n  - http://a:9093\n  - am-1:9093\n", "3:5: urls[1]: not an absolute http or https URL", Config{}},
		{"credentials in url", "urls: [\"http://u:p@a:9093\"]\n", "1:8: urls[0]: credentials belong in username and password", Config{}},
		{"bad label", "urls: [http://a]\nlabels:\n  cluster-name: x\n", `3:3: labels: "cluster-name" is not a label name`, Config{}},
		{"bad interval", "urls: [http://a]\nresend_interval: -1s\n", "2:18: resend_interval must not be negative", Config{}},
		{"basic and bearer", "urls: [http://a]\nusername: u\npassword: p\nbearer_token: t\n", "1:1: basic auth (username, password) and bearer_token are exclusive", Config{}},
		{"username alone", "urls: [http://a]\nusername: u\n", "2:11: username needs a password or password_file", Config{}},
		{"password alone", "urls: [http://a]\npassword: p\n", "1:1: password needs a username", Config{}},
		{"unknown key", "urls: [http://a]\nresend: 1m\n", `2:1: unknown field "resend"`, Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { notifierstest.DecodeConfig(t, tt.yaml, tt.want, tt.err, "u:p@") })
	}
}

func TestNewReadsSecretFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("t0ken\n"), 0o600))
	n, err := New(Config{URLs: []string{"http://127.0.0.1:9"}, BearerTokenFile: path}, notifierstest.Deps(t))
	require.NoError(t, err)
	require.Equal(t, "Bearer t0ken", n.headers[0].Value)

	_, err = New(Config{URLs: []string{"http://127.0.0.1:9"}, Username: "u", PasswordFile: filepath.Join(t.TempDir(), "none")}, notifierstest.Deps(t))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = New(Config{}, notifierstest.Deps(t))
	require.Error(t, err)
}

package notifiers_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// TestHTTPConfigTLS: certificates are verified unless the configuration says
// otherwise, and ca_file adds a private CA.
func TestHTTPConfigTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	post := func(c notifiers.HTTPConfig) error {
		client, err := c.NewClient()
		require.NoError(t, err)
		_, err = notifiers.Post(context.Background(), client, srv.URL, "application/json", []byte(`{}`))
		return err
	}
	require.ErrorContains(t, post(notifiers.HTTPConfig{}), "certificate", "verified by default")
	require.NoError(t, post(notifiers.HTTPConfig{CAFile: caFile}))
	require.NoError(t, post(notifiers.HTTPConfig{InsecureSkipVerify: true}))

	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o600))
	_, err := notifiers.HTTPConfig{CAFile: bad}.NewClient()
	require.ErrorContains(t, err, "no PEM certificate")
	_, err = notifiers.HTTPConfig{CAFile: bad + ".missing"}.NewClient()
	require.ErrorContains(t, err, "ca_file")
}

// TestHTTPConfigProxy: proxy_url takes every request through the proxy.
func TestHTTPConfigProxy(t *testing.T) {
	got := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.String() // a proxy is asked for the absolute URL
		w.WriteHeader(http.StatusAccepted)
	}))
	defer proxy.Close()
	client, err := notifiers.HTTPConfig{ProxyURL: secret.Secret(proxy.URL), Timeout: 5 * time.Second}.NewClient()
	require.NoError(t, err)
	_, err = notifiers.Post(context.Background(), client, "http://receiver.invalid/hook", "application/json", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, "http://receiver.invalid/hook", <-got)
}

// TestHTTPConfigYAML: inline in a receiver's configuration, checked with a place.
func TestHTTPConfigYAML(t *testing.T) {
	type receiver struct {
		URL                  string `yaml:"url"`
		notifiers.HTTPConfig `yaml:",inline"`
	}
	decode := func(src string) (receiver, error) {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &n))
		r := receiver{HTTPConfig: notifiers.DefaultHTTPConfig}
		if err := yamlpos.DecodeStrict(n.Content[0], &r); err != nil {
			return r, err
		}
		return r, yamlpos.Place(n.Content[0], r.Check())
	}
	r, err := decode("url: x\ntimeout: 3s\nca_file: /etc/ca.pem\nproxy_url: http://user:pw@proxy:3128\n")
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, r.Timeout)
	require.Equal(t, "/etc/ca.pem", r.CAFile)
	r, err = decode("url: x\n")
	require.NoError(t, err)
	require.Equal(t, notifiers.DefaultHTTPConfig, r.HTTPConfig)
	_, err = decode("url: x\nproxy_url: ftp://user:pw@proxy\n")
	require.ErrorContains(t, err, "2:12: proxy_url: want")
	require.NotContains(t, err.Error(), "pw", "the proxy's credentials are a secret")
	_, err = decode("url: x\ntimeout: -1s\n")
	require.ErrorContains(t, err, "2:10: timeout must not be negative")
	_, err = decode("url: x\nca_fil: y\n")
	require.ErrorContains(t, err, `2:1: unknown field "ca_fil"`)
}

package notifiers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// HTTPConfig is what every HTTP receiver shares about its client, written inline in the
// receiver's configuration:
//
//	timeout: 10s                       # one request
//	ca_file: /etc/cowbell/corp-ca.pem  # trust these CAs as well as the system's
//	proxy_url: http://proxy:3128       # else HTTPS_PROXY, HTTP_PROXY and NO_PROXY
//	tls_insecure_skip_verify: false    # never on unless written here
type HTTPConfig struct {
	// Timeout bounds one request, whatever the dispatcher's own deadline; 0 is the
	// default (10s).
	Timeout time.Duration `yaml:"timeout"`
	// CAFile holds PEM certificates trusted besides the system's (a private CA).
	CAFile string `yaml:"ca_file"`
	// ProxyURL is the proxy for every request; it may hold credentials, so it is a
	// secret. Empty: the proxy the environment names.
	ProxyURL secret.Secret `yaml:"proxy_url"`
	// InsecureSkipVerify turns certificate verification off; for a lab, never for a
	// pager.
	InsecureSkipVerify bool `yaml:"tls_insecure_skip_verify"`
}

// DefaultHTTPConfig is what a receiver's HTTP settings start from.
var DefaultHTTPConfig = HTTPConfig{Timeout: 10 * time.Second}

// Check checks the settings without I/O; a field's error says which (see
// yamlpos.Field), so the configuration loader can point at it.
func (c HTTPConfig) Check() error {
	if c.Timeout < 0 {
		return yamlpos.Field("timeout", errors.New("timeout must not be negative"))
	}
	if !c.ProxyURL.Empty() {
		u, err := url.Parse(c.ProxyURL.Reveal())
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return yamlpos.Field("proxy_url", errors.New("proxy_url: want http://, https:// or socks5:// with a host"))
		}
	}
	return nil
}

// RequestTimeout is the bound of one request: Timeout, or the default.
func (c HTTPConfig) RequestTimeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultHTTPConfig.Timeout
	}
	return c.Timeout
}

// NewClient makes the client the settings describe, reading the CA file. secrets are
// the receiver's own (a routing key, a token): a traced answer (WithTrace) never
// quotes them.
func (c HTTPConfig) NewClient(secrets ...secret.Secret) (*http.Client, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultHTTPConfig.Timeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The outbox sends up to outbox.concurrency requests to one endpoint at once; keep
	// that many connections open instead of dialling anew (the default keeps two).
	tr.MaxIdleConnsPerHost = maxConcurrency
	tlsc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // off unless the user writes tls_insecure_skip_verify: true
	if c.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tlsc.RootCAs = pool
	}
	tr.TLSClientConfig = tlsc
	if !c.ProxyURL.Empty() {
		u, _ := url.Parse(c.ProxyURL.Reveal()) // checked above
		tr.Proxy = http.ProxyURL(u)
	}
	return &http.Client{Timeout: c.Timeout, Transport: &tracing{base: tr, secrets: secrets}}, nil
}

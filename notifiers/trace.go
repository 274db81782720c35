package notifiers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
)

// Exchange is one HTTP request a receiver made and what the endpoint answered, as
// `cowbell notify test` reports it: which endpoint (its host, never its URL), the
// status and the start of the answer, or why there was none.
type Exchange struct {
	Method string
	Host   string
	Status int    // 0 when no answer came
	Body   string // at most MaxQuotedBody bytes, secrets taken out
	Err    error  // transport error: refused, timed out, TLS
}

func (e Exchange) String() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s %s: no answer: %v", e.Method, e.Host, e.Err)
	}
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Host, e.Status, http.StatusText(e.Status))
	if b := strings.Join(strings.Fields(e.Body), " "); b != "" {
		s += ": " + b
	}
	return s
}

type traceKey struct{}

// WithTrace returns a context under which every request of a receiver built with
// HTTPConfig.NewClient is reported to fn once answered (fn may be called from several
// goroutines at once). The daemon does not trace; `cowbell notify test` does, to show
// each endpoint's answer, an Alertmanager cluster's members one by one.
func WithTrace(ctx context.Context, fn func(Exchange)) context.Context {
	return context.WithValue(ctx, traceKey{}, fn)
}

// tracing is the transport of every receiver's client: it reports exchanges made
// under WithTrace and is a plain pass-through otherwise.
type tracing struct {
	base    http.RoundTripper
	secrets []secret.Secret
}

func (t *tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	fn, _ := req.Context().Value(traceKey{}).(func(Exchange))
	resp, err := t.base.RoundTrip(req)
	if fn == nil {
		return resp, err
	}
	ex := Exchange{Method: req.Method, Host: req.URL.Host}
	if err != nil {
		ex.Err = secret.Redact(err, t.secrets...)
		fn(ex)
		return resp, err
	}
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, MaxQuotedBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	ex.Status, ex.Body = resp.StatusCode, redactRequest(string(peek), req, t.secrets)
	fn(ex)
	return resp, nil
}

// redactRequest takes out of an answer what of the request may be a secret: the
// URL's path segments and query values (webhook tokens, integration keys), its
// Authorization header, and the receiver's own secrets.
func redactRequest(s string, req *http.Request, secrets []secret.Secret) string {
	var words []string
	for _, seg := range strings.Split(req.URL.Path, "/") {
		if len(seg) >= 8 {
			words = append(words, seg)
		}
	}
	for _, vs := range req.URL.Query() {
		words = append(words, vs...)
	}
	if a := req.Header.Get("Authorization"); a != "" {
		_, cred, _ := strings.Cut(a, " ")
		words = append(words, a, cred)
	}
	for _, sec := range secrets {
		words = append(words, sec.Reveal())
	}
	for _, w := range words {
		if w != "" {
			s = strings.ReplaceAll(s, w, "<redacted>")
		}
	}
	return s
}

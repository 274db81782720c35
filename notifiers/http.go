package notifiers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/internal/yamlpos"
)

// MaxQuotedBody is how much of an endpoint's answer an error quotes.
const MaxQuotedBody = 1024

// StatusError is an endpoint's non-2xx answer.
type StatusError struct {
	Code  int
	Body  string // at most MaxQuotedBody bytes
	After time.Duration
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("endpoint answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("endpoint answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// RetryAfter implements RetryAfter: the wait the endpoint asked for, 0 if none.
func (e *StatusError) RetryAfter() time.Duration { return e.After }

// Retryable reports whether a status may succeed later: 408, 429 and 5xx.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// CheckSecretURL checks a secret URL setting given as name or name_file
// (secret.Check) and, when given inline, that it is an http(s) URL; the error names
// the key and never quotes the URL.
func CheckSecretURL(name string, value secret.Secret, file string, required bool) error {
	if err := secret.Check(name, value, file, required); err != nil {
		return err
	}
	if !value.Empty() {
		if err := CheckURL(value.Reveal()); err != nil {
			return yamlpos.Field(name, fmt.Errorf("%s: %w", name, err))
		}
	}
	return nil
}

// ErrNotHTTPURL is CheckURL's error. It never quotes the URL: a receiver's URL often
// holds a token.
var ErrNotHTTPURL = errors.New("not an absolute http or https URL")

// CheckURL accepts an absolute http or https URL (surrounding spaces aside) and returns
// ErrNotHTTPURL otherwise.
func CheckURL(raw string) error {
	if _, ok := webURL(raw); !ok {
		return ErrNotHTTPURL
	}
	return nil
}

// webURL parses raw and reports whether it is an absolute http or https URL.
func webURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// DocLinks returns the rule docs a receiver may offer as links: the absolute http and
// https URLs, in order. Anything else (javascript:, relative paths) is left out.
func DocLinks(docs []string) []*url.URL {
	var out []*url.URL
	for _, d := range docs {
		if u, ok := webURL(d); ok {
			out = append(out, u)
		}
	}
	return out
}

// LinkText labels a documentation link by what it points at, not only its site:
// "redis.io: admin", "postgresql.org: kernel-resources (linux-memory-overcommit)".
func LinkText(u *url.URL) string {
	host := strings.TrimPrefix(u.Hostname(), "www.")
	var last string
	for _, seg := range strings.Split(u.Path, "/") {
		if seg != "" {
			last = seg
		}
	}
	last = strings.TrimSuffix(strings.TrimSuffix(last, ".html"), ".htm")
	text := host
	if last != "" {
		text += ": " + last
	}
	if u.Fragment != "" {
		text += " (" + strings.ToLower(u.Fragment) + ")"
	}
	return Truncate(text, 80)
}

// Header is one extra request header.
type Header struct{ Name, Value string }

// Post sends body to rawURL and classifies the outcome for the Dispatcher. The error
// never carries the URL (it is a secret: it holds tokens), only what went wrong.
func Post(ctx context.Context, c *http.Client, rawURL, contentType string, body []byte, headers ...Header) (retry bool, err error) {
	_, retry, err = Do(ctx, c, http.MethodPost, rawURL, contentType, body, headers...)
	return retry, err
}

// Do is Post for any method, returning the answer's body (at most 1 MiB) on success.
func Do(ctx context.Context, c *http.Client, method, rawURL, contentType string, body []byte, headers ...Header) (answer []byte, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, false, secret.Redact(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "cowbell")
	for _, h := range headers {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := c.Do(req)
	if err != nil {
		// Network errors, timeouts and cancellation may all succeed later; the
		// Dispatcher decides whether there is a later.
		return nil, true, secret.Redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return answer, false, nil
	}
	quoted, _ := io.ReadAll(io.LimitReader(resp.Body, MaxQuotedBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	se := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(quoted)), After: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	return nil, Retryable(resp.StatusCode), se
}

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date. 0 if absent or bad.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

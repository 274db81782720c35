// Package webhook posts incidents, as cowbell.incident/v1 JSON, to any HTTP endpoint,
// optionally signed with HMAC-SHA256 (docs/webhook.md).
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Request headers.
const (
	HeaderEvent     = "X-Cowbell-Event"     // firing or resolved
	HeaderKey       = "X-Cowbell-Key"       // the incident key
	HeaderTest      = "X-Cowbell-Test"      // "true" on `cowbell notify test`
	HeaderTimestamp = "X-Cowbell-Timestamp" // unix seconds, with a secret
	HeaderSignature = "X-Cowbell-Signature" // sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
)

// Notifier posts incidents to one webhook.
type Notifier struct {
	maxBody int
	url     string
	secret  []byte
	headers []notifiers.Header
	client  *http.Client
	log     *zap.Logger
	now     func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a webhook Notifier, reading url_file and secret_file if they are set.
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	u, err := secret.Read("url", c.URL, c.URLFile)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if err := notifiers.CheckURL(u.Reveal()); err != nil {
		return nil, fmt.Errorf("webhook: url_file: %w", err)
	}
	s, err := secret.Read("secret", c.Secret, c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	client, err := c.NewClient(u, s)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	n := &Notifier{
		maxBody: c.MaxBodyBytes,
		url:     strings.TrimSpace(u.Reveal()),
		secret:  []byte(s.Reveal()),
		client:  client,
		log:     d.Log,
		now:     time.Now,
	}
	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n.headers = append(n.headers, notifiers.Header{Name: name, Value: c.Headers[name]})
	}
	return n, nil
}

var _ notifiers.Encoded = (*Notifier)(nil)

// Notify posts inc once. 408, 429, 5xx and transport errors may succeed later; other
// answers will not. Errors name neither the URL nor any header value.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error) {
	body, err := notifiers.Fit(inc, n.maxBody, func(inc *incidents.Incident) ([]byte, error) { return json.Marshal(inc) })
	if err != nil {
		return false, fmt.Errorf("encode incident %s: %w", inc.Key, err)
	}
	return n.post(ctx, inc.Key, inc.Status, inc.Test, body)
}

// NotifyEncoded posts a queued incident's JSON as it is: the body Notify would make of
// the incident, as long as it fits max_body_bytes (a larger one is left to Notify,
// which cuts it).
func (n *Notifier) NotifyEncoded(ctx context.Context, key string, status incidents.Status, body []byte) (handled, retry bool, err error) {
	if len(body) > n.maxBody {
		return false, false, nil
	}
	retry, err = n.post(ctx, key, status, false, body)
	return true, retry, err
}

func (n *Notifier) post(ctx context.Context, key string, event incidents.Status, test bool, body []byte) (retry bool, err error) {
	headers := slices.Clip(n.headers)
	if event == "" {
		event = incidents.StatusFiring
	}
	headers = append(headers,
		notifiers.Header{Name: HeaderEvent, Value: string(event)},
		notifiers.Header{Name: HeaderKey, Value: headerSafe(key)},
	)
	if test {
		headers = append(headers, notifiers.Header{Name: HeaderTest, Value: "true"})
	}
	if len(n.secret) > 0 {
		ts := strconv.FormatInt(n.now().Unix(), 10)
		headers = append(headers,
			notifiers.Header{Name: HeaderTimestamp, Value: ts},
			notifiers.Header{Name: HeaderSignature, Value: Sign(n.secret, ts, body)},
		)
	}
	retry, err = notifiers.Post(ctx, n.client, n.url, "application/json", body, headers...)
	if err != nil {
		return retry, fmt.Errorf("post incident %s to webhook: %w", key, err)
	}
	n.log.Debug("incident posted", zap.String("incident", key), zap.String("status", string(event)))
	return false, nil
}

// Sign returns the X-Cowbell-Signature value of a body sent at timestamp (unix
// seconds, as sent in X-Cowbell-Timestamp): "sha256=" and the hex HMAC-SHA256 of
// timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// headerSafe replaces the control characters a header value may not hold: an incident
// key is built from captures of log text. The body carries the exact key.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

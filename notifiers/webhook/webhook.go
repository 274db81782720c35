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
	url     string
	secret  []byte
	headers []notifiers.Header
	client  *http.Client
	log     *zap.Logger
	now     func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a webhook Notifier. A URL or secret already set wins over its _file twin
// (UnmarshalYAML has read the file); otherwise the file is read now.
func New(c Config, log *zap.Logger) (*Notifier, error) {
	if !c.URL.Empty() {
		c.URLFile = ""
	}
	if !c.Secret.Empty() {
		c.SecretFile = ""
	}
	u, s, err := c.resolve()
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultConfig.Timeout
	}
	n := &Notifier{
		url:    strings.TrimSpace(u.Reveal()),
		secret: []byte(s.Reveal()),
		client: &http.Client{Timeout: c.Timeout},
		log:    log,
		now:    time.Now,
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

// Notify posts inc once. 408, 429, 5xx and transport errors may succeed later; other
// answers will not. Errors name neither the URL nor any header value.
func (n *Notifier) Notify(ctx context.Context, inc *notifiers.Incident) (retry bool, err error) {
	body, err := json.Marshal(inc)
	if err != nil {
		return false, fmt.Errorf("encode incident %s: %w", inc.Key, err)
	}
	headers := slices.Clip(n.headers)
	event := inc.Status
	if event == "" {
		event = notifiers.StatusFiring
	}
	headers = append(headers,
		notifiers.Header{Name: HeaderEvent, Value: string(event)},
		notifiers.Header{Name: HeaderKey, Value: headerSafe(inc.Key)},
	)
	if inc.Test {
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
		return retry, fmt.Errorf("post incident %s to webhook: %w", inc.Key, err)
	}
	n.log.Debug("incident posted", zap.String("incident", inc.Key), zap.String("status", string(event)))
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

// Package pagerduty delivers incidents to PagerDuty's Events API v2: a trigger per
// notification and a resolve when the incident resolves, deduplicated by incident key,
// with the whole cowbell.incident/v1 object as the alert's custom details.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/internal/secret"
	"github.com/cowbell-sidecar/cowbell/notifiers"
)

// Events API v2 limits: PagerDuty refuses an event larger than 512 KB (with a 400,
// for good) and cuts a summary to 1,024 characters.
const (
	MaxEvent    = 512_000
	maxSummary  = 1024
	maxDedupKey = 255
)

// Notifier sends incidents to one Events API v2 integration.
type Notifier struct {
	key    secret.Secret
	url    string
	client *http.Client
	log    *zap.Logger
	now    func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a Notifier, reading routing_key_file if one is set.
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("pagerduty: %w", err)
	}
	key, err := secret.Read("routing_key", c.RoutingKey, c.RoutingKeyFile)
	if err != nil {
		return nil, fmt.Errorf("pagerduty: %w", err)
	}
	if c.URL == "" {
		c.URL = EventsURL
	}
	client, err := c.NewClient(key)
	if err != nil {
		return nil, fmt.Errorf("pagerduty: %w", err)
	}
	return &Notifier{key: key, url: c.URL, client: client, log: d.Log, now: time.Now}, nil
}

// Notify makes one delivery attempt. PagerDuty answers 202 when it queued the event,
// 400 for an event it will never accept, 429 and 5xx when it may later.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error) {
	body, err := notifiers.Fit(inc, MaxEvent, func(inc *incidents.Incident) ([]byte, error) {
		return json.Marshal(n.event(inc))
	})
	if err != nil {
		return false, fmt.Errorf("encode pagerduty event: %w", err)
	}
	retry, err = notifiers.Post(ctx, n.client, n.url, "application/json", body)
	if err != nil {
		return retry, secret.Redact(fmt.Errorf("post pagerduty event: %w", err), n.key)
	}
	n.log.Debug("pagerduty event accepted", zap.String("incident", inc.Key), zap.String("status", string(inc.Status)))
	return false, nil
}

// event is an Events API v2 event.
type event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	Links       []link   `json:"links,omitempty"`
}

type payload struct {
	Summary       string              `json:"summary"`
	Source        string              `json:"source"`
	Severity      string              `json:"severity"`
	Timestamp     string              `json:"timestamp,omitempty"`
	Component     string              `json:"component,omitempty"`
	Group         string              `json:"group,omitempty"`
	Class         string              `json:"class,omitempty"`
	CustomDetails *incidents.Incident `json:"custom_details,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

func (n *Notifier) event(inc *incidents.Incident) event {
	ev := event{RoutingKey: n.key.Reveal(), DedupKey: DedupKey(inc.Key)}
	if inc.Status == incidents.StatusResolved {
		// A resolve carries only what identifies the alert.
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	ev.Client = "cowbell"
	ts := inc.LastSeen
	if ts.IsZero() {
		ts = n.now()
	}
	source := inc.Host
	if source == "" {
		source = "unknown host"
	}
	component, _, _ := strings.Cut(inc.Rule.ID, "/")
	ev.Payload = &payload{
		Summary:       notifiers.Truncate(summary(inc), maxSummary),
		Source:        source,
		Severity:      severity(inc.Rule.Severity),
		Timestamp:     ts.UTC().Format(time.RFC3339Nano),
		Component:     component,
		Group:         inc.Source,
		Class:         inc.Rule.ID,
		CustomDetails: inc,
	}
	ev.Links = links(inc.Docs)
	return ev
}

// DedupKey is the dedup_key PagerDuty sees for an incident key: the key itself, or
// for a key longer than the API's 255 characters, a stable prefix and hash of it.
func DedupKey(key string) string {
	if len(key) <= maxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return notifiers.Truncate(key, maxDedupKey-len(h)-1) + "#" + h
}

// severity maps a rule's severity onto PagerDuty's; one cowbell does not know
// pages as an error rather than being dropped.
func severity(s string) string {
	switch s {
	case "critical", "warning", "info":
		return s
	}
	return "error"
}

// summary is what a phone shows first: the incident's headline (what broke, where,
// and the one thing to do or the cause).
func summary(inc *incidents.Incident) string {
	return strings.Join(strings.Fields(inc.Title()), " ")
}

// links keeps the rule's http(s) docs, each labelled with what it is; anything else is
// not a link to offer.
func links(docs []string) []link {
	var out []link
	for _, u := range notifiers.DocLinks(docs) {
		out = append(out, link{Href: u.String(), Text: notifiers.LinkText(u)})
	}
	return out
}

// OpensAlerts implements notifiers.Alerter: PagerDuty keeps an alert open until its resolve.
func (n *Notifier) OpensAlerts() bool { return true }

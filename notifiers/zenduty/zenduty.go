// Package zenduty delivers incidents to a Zenduty Generic Integration: one alert per
// incident key (entity_id), resolved when the incident resolves, with the whole
// cowbell.incident/v1 object as the alert's payload.
package zenduty

import (
	"context"
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

// Field limits of the Generic Integration: message becomes the incident title.
// Zenduty documents no body limit; cowbell holds a request to MaxEvent, PagerDuty's,
// so that a resolve is never refused for its size (which would leave the incident
// open for good).
const (
	maxMessage = 512
	maxSummary = 4096
	MaxEvent   = 512_000
)

// Notifier posts incidents to one Zenduty integration.
type Notifier struct {
	url    secret.Secret
	client *http.Client
	log    *zap.Logger
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New makes a Notifier, reading url_file if one is set.
func New(c Config, d notifiers.Deps) (*Notifier, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("zenduty: %w", err)
	}
	u, err := secret.Read("url", c.URL, c.URLFile)
	if err != nil {
		return nil, fmt.Errorf("zenduty: %w", err)
	}
	if err := notifiers.CheckURL(u.Reveal()); err != nil {
		return nil, fmt.Errorf("zenduty: url_file: %w", err)
	}
	client, err := c.NewClient(u)
	if err != nil {
		return nil, fmt.Errorf("zenduty: %w", err)
	}
	return &Notifier{url: u, client: client, log: d.Log}, nil
}

// Notify makes one delivery attempt: 2xx is success, 408, 429 and 5xx may succeed
// later, any other answer will not.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) (retry bool, err error) {
	body, err := notifiers.Fit(inc, MaxEvent, func(inc *incidents.Incident) ([]byte, error) {
		return json.Marshal(newEvent(inc))
	})
	if err != nil {
		return false, fmt.Errorf("encode zenduty event: %w", err)
	}
	retry, err = notifiers.Post(ctx, n.client, n.url.Reveal(), "application/json", body)
	if err != nil {
		return retry, fmt.Errorf("post zenduty event: %w", err)
	}
	n.log.Debug("zenduty event accepted", zap.String("incident", inc.Key), zap.String("status", string(inc.Status)))
	return false, nil
}

// event is the Generic Integration's request body.
type event struct {
	AlertType string              `json:"alert_type"`
	Message   string              `json:"message"`
	Summary   string              `json:"summary"`
	EntityID  string              `json:"entity_id"`
	Payload   *incidents.Incident `json:"payload"`
	URLs      []link              `json:"urls,omitempty"`
}

type link struct {
	URL  string `json:"link_url"`
	Text string `json:"link_text"`
}

func newEvent(inc *incidents.Incident) event {
	return event{
		AlertType: alertType(inc),
		Message:   notifiers.Truncate(message(inc), maxMessage),
		Summary:   notifiers.Truncate(summary(inc), maxSummary),
		EntityID:  inc.Key,
		Payload:   inc,
		URLs:      links(inc.Docs),
	}
}

// alertType maps status and severity onto Zenduty's alert types; a severity cowbell
// does not know pages as an error rather than being dropped.
func alertType(inc *incidents.Incident) string {
	if inc.Status == incidents.StatusResolved {
		return "resolved"
	}
	switch inc.Rule.Severity {
	case "critical", "warning", "info":
		return inc.Rule.Severity
	}
	return "error"
}

// message is the incident's title, what a phone shows: its headline (what broke,
// where, and the one thing to do or the cause).
func message(inc *incidents.Incident) string {
	return oneLine(inc.Title())
}

// summary is plain text: what to do first, then why, where and when.
func summary(inc *incidents.Incident) string {
	var b strings.Builder
	if inc.Test {
		b.WriteString("TEST NOTIFICATION from `cowbell notify test`: nothing is wrong.\n")
	}
	if c := inc.Cause(); c != "" {
		fmt.Fprintf(&b, "Cause: %s\n", c)
	}
	for i, a := range inc.Advice {
		if t := incidents.Reflow(a.Text); t != "" {
			if i == 0 {
				fmt.Fprintf(&b, "Do: %s\n", t)
			} else {
				fmt.Fprintf(&b, "Also: %s\n", t)
			}
		}
	}
	if inc.RootCause != "" {
		fmt.Fprintf(&b, "Root cause: %s\n", incidents.Reflow(inc.RootCause))
	}
	fmt.Fprintf(&b, "Host: %s\n", inc.Host)
	if inc.ReadAt != nil {
		fmt.Fprintf(&b, "Happened: %s (read %s)\n", inc.LastSeen.UTC().Format(time.RFC3339), inc.ReadAt.UTC().Format(time.RFC3339))
	}
	for _, r := range inc.Related {
		fmt.Fprintf(&b, "Same process (%s): %s\n", r.Rule, r.Line)
	}
	return strings.TrimRight(b.String(), "\n")
}

// links keeps the rule's http(s) docs, each labelled with what it is; anything else is
// not a link to offer.
func links(docs []string) []link {
	var out []link
	for _, u := range notifiers.DocLinks(docs) {
		out = append(out, link{URL: u.String(), Text: notifiers.LinkText(u)})
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// OpensAlerts implements notifiers.Alerter: Zenduty keeps an incident open until its resolve.
func (n *Notifier) OpensAlerts() bool { return true }

package alertmanager

import (
	"strings"
	"time"
	"unicode"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Label and annotation values are cut to these sizes: Alertmanager takes larger ones,
// but every notification it sends carries them.
const (
	maxLabelValue      = 1024
	maxAnnotationValue = 8192
)

// alert is one postable alert of the API v2 (POST /api/v2/alerts takes an array).
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    string            `json:"startsAt,omitempty"`
	EndsAt      string            `json:"endsAt,omitempty"`
}

// alert renders inc as it is at now. A firing alert ends expiryIntervals re-sends
// from now, so it expires unless re-sent; a resolved one ends when it resolved.
func (n *Notifier) alert(inc *incidents.Incident, now time.Time) alert {
	starts := inc.FirstSeen
	if starts.IsZero() {
		starts = now
	}
	ends := now.Add(expiryIntervals * n.resend)
	if inc.Status == incidents.StatusResolved {
		ends = now
		if inc.ResolvedAt != nil && !inc.ResolvedAt.IsZero() {
			ends = *inc.ResolvedAt
		}
	}
	// Alertmanager rejects an alert that ends before it starts (clock skew
	// between hosts, a replayed log).
	if ends.Before(starts) {
		starts = ends
	}
	return alert{
		Labels:      n.alertLabels(inc),
		Annotations: annotations(inc),
		StartsAt:    starts.UTC().Format(time.RFC3339Nano),
		EndsAt:      ends.UTC().Format(time.RFC3339Nano),
	}
}

// alertLabels identify the alert: the same incident always gets the same labels, so
// Alertmanager's fingerprint dedups it across re-sends and restarts.
func (n *Notifier) alertLabels(inc *incidents.Incident) map[string]string {
	l := make(map[string]string, len(n.labels)+10)
	set := func(name, v string) {
		if v = labelValue(v); v != "" {
			l[name] = v
		}
	}
	for k, v := range n.labels {
		set(k, v)
	}
	l["alertname"] = "cowbell"
	set("alertname", inc.Rule.ID)
	set("severity", inc.Rule.Severity)
	set("host", inc.Host)
	set("source", inc.Source)
	for _, k := range []string{sources.LabelContainer, sources.LabelNamespace, sources.LabelPod, sources.LabelUnit} {
		set(k, inc.Labels[k])
	}
	set("incident_key", inc.Key)
	if inc.Test {
		l["test"] = "true"
	}
	return l
}

func annotations(inc *incidents.Incident) map[string]string {
	a := map[string]string{
		"summary":     annotationValue(summary(inc)),
		"cowbell_key": annotationValue(inc.Key),
	}
	if d := description(inc); d != "" {
		a["description"] = annotationValue(d)
	}
	if u := runbook(inc.Docs); u != "" {
		a["runbook_url"] = u
	}
	return a
}

func summary(inc *incidents.Incident) string {
	title := inc.Rule.Title
	if title == "" {
		title = inc.Rule.ID
	}
	s := title
	if inc.Host != "" {
		s += " on " + inc.Host
	}
	if inc.Summary != "" && inc.Summary != title {
		s += ": " + inc.Summary
	}
	if inc.Test {
		s = "[TEST] " + s + " (test notification from cowbell notify test)"
	}
	return s
}

// description is the diagnosis: why it happened and what applies on this host.
func description(inc *incidents.Incident) string {
	var b strings.Builder
	if rc := strings.TrimSpace(inc.RootCause); rc != "" {
		b.WriteString(rc)
	}
	for _, a := range inc.Advice {
		if t := strings.TrimSpace(a.Text); t != "" {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString("- " + t)
		}
	}
	return b.String()
}

// runbook is the rule's first http(s) doc; other schemes are not offered as links.
func runbook(docs []string) string {
	if links := notifiers.DocLinks(docs); len(links) > 0 {
		return links[0].String()
	}
	return ""
}

// labelValue makes v a tidy label value: valid UTF-8 on one line, without control
// characters, trimmed and cut.
func labelValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
	return notifiers.Truncate(strings.TrimSpace(v), maxLabelValue)
}

// annotationValue keeps newlines (descriptions are multi-line) but drops other
// control characters and invalid UTF-8.
func annotationValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	v = strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
	return notifiers.Truncate(strings.TrimSpace(v), maxAnnotationValue)
}

package alertmanager

import (
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/cowbell-sidecar/cowbell/incidents"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/sources"
)

// Label and annotation values are cut to these sizes. Alertmanager takes larger ones,
// but every notification it sends carries them, and its own receivers have limits: the
// summary fits PagerDuty's 1,024-character summary, the description a Slack section
// (3,000) with room to spare in a PagerDuty or e-mail template. An alert is at most
// about 8 KiB of annotations, whatever the incident's size.
const (
	maxLabelValue  = 1024
	maxSummary     = 1024
	maxDescription = 4096
	maxAnnotation  = 1024 // any other annotation
)

// alert is one postable alert of the API v2 (POST /api/v2/alerts takes an array).
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
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
		Labels:       n.alertLabels(inc),
		Annotations:  annotations(inc),
		StartsAt:     starts.UTC().Format(time.RFC3339Nano),
		EndsAt:       ends.UTC().Format(time.RFC3339Nano),
		GeneratorURL: n.generatorURL(inc),
	}
}

// generatorURL fills the configured generator_url's placeholders ({host}, {rule},
// {key}, each query-escaped); "" without one.
func (n *Notifier) generatorURL(inc *incidents.Incident) string {
	if n.generator == "" {
		return ""
	}
	return strings.NewReplacer(
		"{host}", url.QueryEscape(inc.Host),
		"{rule}", url.QueryEscape(inc.Rule.ID),
		"{key}", url.QueryEscape(inc.Key),
	).Replace(n.generator)
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
		"summary":     annotationValue(summary(inc), maxSummary),
		"cowbell_key": annotationValue(inc.Key, maxAnnotation),
	}
	if d := description(inc); d != "" {
		a["description"] = annotationValue(d, maxDescription)
	}
	if u := runbook(inc.Docs); u != "" {
		a["runbook_url"] = annotationValue(u, maxAnnotation)
	}
	if len(inc.Lines) > 0 {
		a["log_line"] = annotationValue(inc.Lines[len(inc.Lines)-1].Text, maxAnnotation)
	}
	return a
}

// summary is the incident's headline: what broke, where, and the one thing to do or
// the cause.
func summary(inc *incidents.Incident) string {
	if inc.Test {
		return inc.Title() + " (test notification from cowbell notify test)"
	}
	return inc.Title()
}

// description is what to do first, then why: the cause another incident names, the
// advice that applied on this host, the root cause.
func description(inc *incidents.Incident) string {
	var parts []string
	if c := inc.Cause(); c != "" {
		parts = append(parts, "Cause: "+c)
	}
	for _, a := range inc.Advice {
		if t := incidents.Reflow(a.Text); t != "" {
			parts = append(parts, "- "+t)
		}
	}
	if rc := incidents.Reflow(inc.RootCause); rc != "" {
		parts = append(parts, "Why: "+rc)
	}
	return strings.Join(parts, "\n")
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
func annotationValue(v string, limit int) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	v = strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) {
			return ' '
		}
		return r
	}, v)
	return notifiers.Truncate(strings.TrimSpace(v), limit)
}

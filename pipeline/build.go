package pipeline

import (
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/notifiers"
	"github.com/cowbell-sidecar/cowbell/notifiers/alertmanager"
	"github.com/cowbell-sidecar/cowbell/notifiers/console"
	"github.com/cowbell-sidecar/cowbell/notifiers/pagerduty"
	"github.com/cowbell-sidecar/cowbell/notifiers/slack"
	"github.com/cowbell-sidecar/cowbell/notifiers/webhook"
	"github.com/cowbell-sidecar/cowbell/notifiers/zenduty"
	"github.com/cowbell-sidecar/cowbell/sources"
	"github.com/cowbell-sidecar/cowbell/sources/file"
	"github.com/cowbell-sidecar/cowbell/sources/journald"
	"github.com/cowbell-sidecar/cowbell/sources/kmsg"
	"github.com/cowbell-sidecar/cowbell/state"
)

// NewSource builds one configured source. Plug-ins are chosen here and nowhere else.
func NewSource(c config.Source, cp sources.Checkpoints, m *sources.Metrics, log *zap.Logger) (sources.Source, error) {
	s, err := newSource(c, cp, m, log)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", c.Name, err)
	}
	return s, nil
}

func newSource(c config.Source, cp sources.Checkpoints, m *sources.Metrics, log *zap.Logger) (sources.Source, error) {
	log = log.With(zap.String("source", c.Name))
	switch c.Type { // one case per source type
	case "file":
		return file.New(c.Name, c.File, cp, m, log)
	case "journald":
		return journald.New(c.Name, c.Journald, cp, m, log)
	case "kmsg":
		return kmsg.New(c.Name, c.Kmsg, cp, m, log)
	case "stdin": // `cat old.log | cowbell run`, or a pipe from another program
		return sources.NewReader(c.Name, os.Stdin, m), nil
	}
	return nil, fmt.Errorf("unknown type %q", c.Type)
}

// NewNotifier builds one configured receiver. st may be nil (no durable receiver
// state, as in `cowbell notify test`).
func NewNotifier(c config.Notifier, st *state.Store, log *zap.Logger) (notifiers.Notifier, error) {
	n, err := newNotifier(c, st, log)
	if err != nil {
		return nil, fmt.Errorf("notifier %q: %w", c.Name, err)
	}
	return n, nil
}

func newNotifier(c config.Notifier, st *state.Store, log *zap.Logger) (notifiers.Notifier, error) {
	log = log.With(zap.String("notifier", c.Name))
	switch c.Type { // one case per receiver
	case "console":
		w := os.Stdout
		if c.Console.Output == "stderr" {
			w = os.Stderr
		}
		return console.New(c.Console, w), nil
	case "webhook":
		return webhook.New(c.Webhook, log)
	case "slack":
		var kv notifiers.KV
		if st != nil {
			kv = st.KV("slack/" + c.Name)
		}
		return slack.New(c.Slack, kv, log)
	case "zenduty":
		return zenduty.New(c.Zenduty, log)
	case "pagerduty":
		return pagerduty.New(c.PagerDuty, log)
	case "alertmanager":
		return alertmanager.New(c.Alertmanager, log)
	}
	return nil, fmt.Errorf("unknown type %q", c.Type)
}

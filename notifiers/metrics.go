package notifiers

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/state"
)

// outboxMetrics are the Dispatcher's delivery and outbox metrics, labelled by notifier.
type outboxMetrics struct {
	sent    *prometheus.CounterVec
	failed  *prometheus.CounterVec // notifier, retry
	pending *prometheus.GaugeVec
	dead    *prometheus.CounterVec
	dropped *prometheus.CounterVec // notifier, reason
}

func newOutboxMetrics(reg prometheus.Registerer) *outboxMetrics {
	m := &outboxMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_notifications_sent_total", Help: "Notifications delivered.",
		}, []string{"notifier"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_notifications_failed_total", Help: "Delivery attempts that failed, by whether they will be retried.",
		}, []string{"notifier", "retry"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cowbell_outbox_pending", Help: "Notifications queued and not yet delivered.",
		}, []string{"notifier"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_outbox_dead_total", Help: "Notifications given up and moved to the dead letters.",
		}, []string{"notifier"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_outbox_dropped_total", Help: "Notifications dropped undelivered by the outbox bound.",
		}, []string{"notifier", "reason"}),
	}
	if reg != nil {
		m.sent = register(reg, m.sent)
		m.failed = register(reg, m.failed)
		m.pending = register(reg, m.pending)
		m.dead = register(reg, m.dead)
		m.dropped = register(reg, m.dropped)
	}
	return m
}

// register registers c, or returns the collector already registered under its name, so
// a Dispatcher made again on the same registry (a reload) keeps counting.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // two different metrics under one name: a programming error
	}
	return c
}

// init makes every series of a notifier exist at zero, so dashboards and alerts on
// rates see it before the first failure.
func (m *outboxMetrics) init(notifier string) {
	m.sent.WithLabelValues(notifier)
	m.failed.WithLabelValues(notifier, "true")
	m.failed.WithLabelValues(notifier, "false")
	m.pending.WithLabelValues(notifier)
	m.dead.WithLabelValues(notifier)
	m.dropped.WithLabelValues(notifier, state.DropMaxEntries)
	m.dropped.WithLabelValues(notifier, state.DropMaxAge)
}

func (m *outboxMetrics) fail(notifier string, retry bool) {
	m.failed.WithLabelValues(notifier, strconv.FormatBool(retry)).Inc()
}

package notifiers

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/internal/prom"
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
	// A Dispatcher made again on the same registry (a reload) keeps counting.
	m.sent = prom.Register(reg, m.sent)
	m.failed = prom.Register(reg, m.failed)
	m.pending = prom.Register(reg, m.pending)
	m.dead = prom.Register(reg, m.dead)
	m.dropped = prom.Register(reg, m.dropped)
	return m
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

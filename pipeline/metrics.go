package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/internal/prom"
)

// metrics are the pipeline's own series.
type metrics struct {
	events        *prometheus.CounterVec
	late          *prometheus.CounterVec
	storeFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		events: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_total",
			Help: "Incident decisions by rule and kind (open, repeat, fold, resolve).",
		}, []string{"rule", "event"})),
		late: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_late_total",
			Help: "Incident decisions recorded but not notified because their line was older than incidents.max_age when read (or the incident was never paged), by rule and kind.",
		}, []string{"rule", "event"})),
		storeFailures: prom.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cowbell_store_commit_failures_total",
			Help: "Commits the state store refused (a full disk); cowbell then notifies from memory and holds its cursors back.",
		})),
	}
}

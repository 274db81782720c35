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
	commits       prometheus.Histogram
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
		commits: prom.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cowbell_store_commit_seconds",
			Help:    "How long the pipeline's commits to the state store took (an fsync each): cursors, incident changes and the notifications they queue.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		})),
	}
}

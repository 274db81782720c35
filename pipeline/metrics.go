package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/internal/prom"
)

// metrics are the pipeline's own series.
type metrics struct {
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		events: prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_total",
			Help: "Incident decisions by rule and kind (open, repeat, fold, resolve).",
		}, []string{"rule", "event"})),
	}
}

package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's own series.
type metrics struct {
	events *prometheus.CounterVec
	late   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_total",
			Help: "Incident decisions by rule and kind (open, repeat, fold, resolve).",
		}, []string{"rule", "event"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_late_total",
			Help: "Incident decisions recorded but not notified because their line was older than incidents.max_age when read (or the incident was never paged), by rule and kind.",
		}, []string{"rule", "event"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.late} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}

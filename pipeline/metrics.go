package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's own series.
type metrics struct {
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_incident_events_total",
			Help: "Incident decisions by rule and kind (open, repeat, fold, resolve).",
		}, []string{"rule", "event"}),
	}
	if reg != nil {
		if err := reg.Register(m.events); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

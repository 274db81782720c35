package sources

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters every source keeps, labelled by source name. One Metrics
// is made per registry and shared by all sources.
type Metrics struct {
	// LinesRead counts decoded lines, each counted just before it is sent on.
	LinesRead *prometheus.CounterVec
	// LinesCut counts lines longer than the cap, cut and marked.
	LinesCut *prometheus.CounterVec
	// LinesSkipped counts records that could not be decoded (label reason).
	LinesSkipped *prometheus.CounterVec
	// BytesRead counts bytes read from files.
	BytesRead *prometheus.CounterVec
	// LagSeconds is how far behind the newest record's own time the source is.
	LagSeconds *prometheus.GaugeVec
	// Rotations counts rotations and truncations seen (label kind).
	Rotations *prometheus.CounterVec
	// Failures counts runs of a source that ended in an error (Supervise restarts it).
	Failures *prometheus.CounterVec
	// Up is 1 while a source runs, 0 while it waits to be restarted or has ended.
	Up *prometheus.GaugeVec
}

// NewMetrics makes the source metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		LinesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_lines_read_total", Help: "Log lines read and decoded.",
		}, []string{"source"}),
		LinesCut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_lines_cut_total", Help: "Log lines longer than the cap, cut.",
		}, []string{"source"}),
		LinesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_lines_skipped_total", Help: "Log records skipped as undecodable.",
		}, []string{"source", "reason"}),
		BytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_read_bytes_total", Help: "Bytes read from log files.",
		}, []string{"source"}),
		LagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cowbell_source_lag_seconds", Help: "Read time minus the newest record's own time.",
		}, []string{"source"}),
		Rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_rotations_total", Help: "File rotations and truncations seen.",
		}, []string{"source", "kind"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_source_failures_total", Help: "Source runs that ended in an error and were restarted.",
		}, []string{"source"}),
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cowbell_source_up", Help: "1 while the source runs, 0 while it waits to restart or has ended.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.LinesRead, m.LinesCut, m.LinesSkipped, m.BytesRead, m.LagSeconds, m.Rotations, m.Failures, m.Up)
	}
	return m
}

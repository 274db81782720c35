package sources

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/internal/prom"
)

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
	// FilesRefused counts files a source would read but refuses (label reason:
	// not_regular, unreadable, symlink_outside), each once when it is first refused.
	FilesRefused *prometheus.CounterVec
	// FilesRefusedNow is how many files a source refuses now, by reason.
	FilesRefusedNow *prometheus.GaugeVec
	// Failures counts runs of a source that ended in an error (Supervise restarts it).
	Failures *prometheus.CounterVec
	// Up is 1 while a source runs, 0 while it waits to be restarted or has ended.
	Up *prometheus.GaugeVec
}

// NewMetrics makes the source metrics and registers them on reg (nil: not
// registered); made again on the same registry (a reload), it returns the series
// registered the first time.
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
		FilesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_files_refused_total", Help: "Files a source would read but refuses (not regular, unreadable, a link leading outside its directories), counted when first refused.",
		}, []string{"source", "reason"}),
		FilesRefusedNow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cowbell_files_refused", Help: "Files a source refuses now, by reason.",
		}, []string{"source", "reason"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cowbell_source_failures_total", Help: "Source runs that ended in an error and were restarted.",
		}, []string{"source"}),
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cowbell_source_up", Help: "1 while the source runs, 0 while it waits to restart or has ended.",
		}, []string{"source"}),
	}
	m.LinesRead = prom.Register(reg, m.LinesRead)
	m.LinesCut = prom.Register(reg, m.LinesCut)
	m.LinesSkipped = prom.Register(reg, m.LinesSkipped)
	m.BytesRead = prom.Register(reg, m.BytesRead)
	m.LagSeconds = prom.Register(reg, m.LagSeconds)
	m.Rotations = prom.Register(reg, m.Rotations)
	m.FilesRefused = prom.Register(reg, m.FilesRefused)
	m.FilesRefusedNow = prom.Register(reg, m.FilesRefusedNow)
	m.Failures = prom.Register(reg, m.Failures)
	m.Up = prom.Register(reg, m.Up)
	return m
}

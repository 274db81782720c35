package pipeline

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// CommitCollector exports the host's commit accounting as gauges, read from the
// snapshot at scrape time (the enricher caches it about a second): the figures the
// pack's advice rests on, for hosts that have no exporter knowing what Committed_AS
// means for the next fork. snap returns the current snapshot; the running pipeline's
// Snapshot, handed over on reload.
type CommitCollector struct {
	snap func() facts.Snapshot

	mode, committed, limit, ratio, recommended, memAvailable *prometheus.Desc
}

// NewCommitCollector returns a collector over snap.
func NewCommitCollector(snap func() facts.Snapshot) *CommitCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &CommitCollector{
		snap:         snap,
		mode:         d("cowbell_overcommit_mode", "vm.overcommit_memory: 0 heuristic, 1 always, 2 strict."),
		committed:    d("cowbell_committed_as_bytes", "Committed_AS: memory the kernel has promised to processes."),
		limit:        d("cowbell_commit_limit_bytes", "CommitLimit: what strict overcommit (mode 2) lets Committed_AS reach."),
		ratio:        d("cowbell_commit_ratio", "Committed_AS / CommitLimit; refused allocations start at 1 under mode 2."),
		recommended:  d("cowbell_recommended_overcommit_kbytes", "The vm.overcommit_kbytes cowbell recommends for strict mode on this host."),
		memAvailable: d("cowbell_mem_available_bytes", "MemAvailable: memory the kernel estimates is available without swapping."),
	}
}

// Describe implements prometheus.Collector.
func (c *CommitCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.mode, c.committed, c.limit, c.ratio, c.recommended, c.memAvailable} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A figure the snapshot could not read is
// left out rather than exported as zero.
func (c *CommitCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	if _, ok := s.VM["overcommit_memory"]; ok {
		gauge(c.mode, float64(s.Commit.Mode))
	}
	if _, ok := s.Meminfo["Committed_AS"]; ok {
		gauge(c.committed, float64(s.Commit.CommittedKB)*1024)
	}
	if _, ok := s.Meminfo["CommitLimit"]; ok {
		gauge(c.limit, float64(s.Commit.LimitKB)*1024)
		if s.Commit.LimitKB > 0 {
			gauge(c.ratio, s.Commit.Ratio)
		}
	}
	if s.Commit.RecommendedKbytes > 0 {
		gauge(c.recommended, float64(s.Commit.RecommendedKbytes))
	}
	if v, ok := s.Meminfo["MemAvailable"]; ok {
		gauge(c.memAvailable, float64(v)*1024)
	}
}

// Snapshot returns the enricher's snapshot of the host (cached about a second).
func (p *Pipeline) Snapshot() facts.Snapshot { return p.enricher.Snapshot(context.Background()) }

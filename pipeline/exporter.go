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
	forecast                                                 forecastDescs
}

// forecastDescs are the gauges of the snapshot's forecasts (facts.Forecast).
type forecastDescs struct {
	headroom, eta, growth             *prometheus.Desc
	forkCharge, forkRoom, forkRefused *prometheus.Desc
	cow, saveRoom, saveOOM            *prometheus.Desc
	pgPool, pgAvailable, pgRefused    *prometheus.Desc
}

func newForecastDescs() forecastDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return forecastDescs{
		headroom: d("cowbell_commit_headroom_bytes", "CommitLimit - Committed_AS: what strict mode (mode 2) has left to promise."),
		eta: d("cowbell_commit_limit_eta_seconds", "Seconds until the fitted line of Committed_AS reaches CommitLimit less the admin reserve; "+
			"absent while it is not climbing or the samples span less than 10 minutes, 0 when it is there."),
		growth: d("cowbell_committed_as_growth_bytes_per_second", "The fitted slope of Committed_AS (least squares, one-off spikes left out)."),
		forkCharge: d("cowbell_redis_fork_charge_bytes", "What the next fork of this Redis adds to Committed_AS: its private writable memory (VmData + VmStk).",
			"redis"),
		forkRoom: d("cowbell_redis_fork_room_bytes", "What the kernel's rule lets that fork charge now (per mapping under mode 0); absent under mode 1.",
			"redis"),
		forkRefused: d("cowbell_redis_fork_refused", "1 when the next fork of this Redis would fail with ENOMEM.", "redis"),
		cow: d("cowbell_redis_save_cow_forecast_bytes", "The copy-on-write forecast for this Redis's next save, or its running save until its end.",
			"redis"),
		saveRoom: d("cowbell_redis_save_room_bytes", "The memory a save of this Redis can grow into: its memory cgroup's room, else MemAvailable.",
			"redis"),
		saveOOM:     d("cowbell_redis_save_oom_forecast", "1 when the copy-on-write is forecast to outgrow that room.", "redis"),
		pgPool:      d("cowbell_postgres_pool_commit_bytes", "What a full pool of PostgreSQL connections commits."),
		pgAvailable: d("cowbell_postgres_pool_available_bytes", "What CommitLimit leaves PostgreSQL after the rest of the host."),
		pgRefused:   d("cowbell_postgres_pool_refused", "1 when a full pool would be refused under strict mode."),
	}
}

func (f forecastDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{f.headroom, f.eta, f.growth, f.forkCharge, f.forkRoom, f.forkRefused,
		f.cow, f.saveRoom, f.saveOOM, f.pgPool, f.pgAvailable, f.pgRefused}
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
		forecast:     newForecastDescs(),
	}
}

// Describe implements prometheus.Collector.
func (c *CommitCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.mode, c.committed, c.limit, c.ratio, c.recommended, c.memAvailable} {
		ch <- d
	}
	for _, d := range c.forecast.all() {
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
	c.collectForecast(ch, s)
}

// collectForecast exports the forecasts: the headroom and the time to CommitLimit,
// each Redis's fork and save, PostgreSQL's pool.
func (c *CommitCollector) collectForecast(ch chan<- prometheus.Metric, s facts.Snapshot) {
	f, d := s.Forecast, c.forecast
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	_, hasLimit := s.Meminfo["CommitLimit"]
	if _, ok := s.Meminfo["Committed_AS"]; ok && hasLimit {
		gauge(d.headroom, float64(s.Commit.HeadroomKB)*1024)
	}
	if f.Commit.Samples > 0 && f.Commit.SpanSeconds > 0 && f.Commit.Text != "" {
		gauge(d.growth, f.Commit.GrowthKBPerHour*1024/3600)
		if f.Commit.SecondsToLimit >= 0 {
			gauge(d.eta, f.Commit.SecondsToLimit)
		}
	}
	for _, r := range f.Redis {
		gauge(d.forkCharge, float64(r.ForkChargeKB)*1024, r.Instance)
		if r.ForkRoomKB >= 0 {
			gauge(d.forkRoom, float64(r.ForkRoomKB)*1024, r.Instance)
		}
		gauge(d.forkRefused, flag(r.ForkRefused), r.Instance)
		if r.CowFrom != "" {
			gauge(d.cow, float64(r.CowKB)*1024, r.Instance)
			gauge(d.saveOOM, flag(r.SaveOOM), r.Instance)
		}
		gauge(d.saveRoom, float64(r.RoomKB)*1024, r.Instance)
	}
	if p := f.Postgres; p.Known {
		gauge(d.pgPool, float64(p.PoolKB)*1024)
		gauge(d.pgAvailable, float64(p.AvailableKB)*1024)
		gauge(d.pgRefused, flag(p.Refused))
	}
}

// Snapshot returns the enricher's snapshot of the host (cached about a second).
func (p *Pipeline) Snapshot() facts.Snapshot { return p.enricher.Snapshot(context.Background()) }

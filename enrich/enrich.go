// Package enrich reads the host at the moment an incident opens: /proc/sys/vm,
// meminfo and the commit accounting derived from it, transparent hugepages, the kernel,
// the node's identity, memory cgroups, the target processes and, when configured,
// Redis INFO and PostgreSQL settings. It also chooses the advice that fits the host.
//
// The roots of /proc, /sys and /etc are configurable, so a sidecar reads the host's
// values through /host/proc and a test reads a captured tree.
package enrich

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// Enricher takes snapshots of the host. It is safe for concurrent use.
type Enricher struct {
	c   Config
	log *zap.Logger

	// Swapped in tests: the clock, the environment and the root holding container
	// marker files (/.dockerenv).
	now    func() time.Time
	getenv func(string) string
	rootFS string

	mu       sync.Mutex // serialises reads: a flood of hits reads /proc once
	cached   facts.Snapshot
	cachedAt time.Time
	hasCache bool
	hist     history
	failing  map[string]string // what → error, to log failures when they start and clear
	// accounted holds the last smaps reading of each Redis whose fork was
	// forecast refused (confirmForks).
	accounted map[int]accountedReading
}

// New returns an Enricher for c; it reads nothing until asked. Empty roots, nil
// Targets and zero service timeouts take DefaultConfig's values, so a Config built in
// code works as one decoded from YAML.
func New(c Config, log *zap.Logger) *Enricher {
	if c.Targets == nil {
		c.Targets = DefaultConfig.Targets
	}
	for _, d := range []struct {
		dst *string
		def string
	}{{&c.Proc, DefaultConfig.Proc}, {&c.Sys, DefaultConfig.Sys}, {&c.Etc, DefaultConfig.Etc}} {
		if *d.dst == "" {
			*d.dst = d.def
		}
	}
	if c.LeadTime <= 0 {
		c.LeadTime = DefaultConfig.LeadTime
	}
	if c.Redis != nil {
		r := *c.Redis
		r.Timeout = cmp.Or(max(r.Timeout, 0), defaultServiceTimeout)
		c.Redis = &r
	}
	if c.Postgres != nil {
		p := *c.Postgres
		p.Timeout = cmp.Or(max(p.Timeout, 0), defaultServiceTimeout)
		c.Postgres = &p
	}
	return &Enricher{
		c:         c,
		log:       log.With(zap.String("enricher", "snapshot")),
		now:       time.Now,
		getenv:    os.Getenv,
		rootFS:    "/",
		failing:   map[string]string{},
		accounted: map[int]accountedReading{},
	}
}

// Snapshot returns the host as read within the last CacheFor, reading it now if the
// cached one is older. It never fails whole: failed reads are listed in Errors. The
// returned snapshot shares its maps with other callers and must not be modified.
func (e *Enricher) Snapshot(ctx context.Context) facts.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hasCache && e.now().Sub(e.cachedAt) < e.c.CacheFor {
		return e.cached
	}
	s := e.read(ctx)
	cur, ok := sampleOf(&s)
	var l line
	s.Trend, l = e.hist.trend(cur, ok)
	s.Forecast.Commit = commitForecast(s, l, e.c.LeadTime)
	e.keep(s)
	return s
}

// Fresh reads the host now, bypassing the cache, and adds the reading to the trend
// history (the probe loop calls it once an interval).
func (e *Enricher) Fresh(ctx context.Context) facts.Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.read(ctx)
	cur, ok := sampleOf(&s)
	var l line
	s.Trend, l = e.hist.trend(cur, ok)
	s.Forecast.Commit = commitForecast(s, l, e.c.LeadTime)
	if ok {
		e.hist.add(cur)
	}
	e.keep(s)
	return s
}

func (e *Enricher) keep(s facts.Snapshot) {
	e.cached, e.cachedAt, e.hasCache = s, s.Taken, true
}

// read takes one snapshot without the trend.
func (e *Enricher) read(ctx context.Context) facts.Snapshot {
	c := &e.c
	var errs readErrors
	s := facts.Snapshot{Taken: e.now()}
	readIdentity(c, &s, &errs)
	var err error
	if s.Kernel, err = readKernel(c.Proc); err != nil {
		errs.add("kernel", err)
	}
	s.VM, s.VMText = readVM(c.Proc, &errs)
	if s.Meminfo, err = readMeminfo(c.Proc); err != nil {
		errs.add("meminfo", err)
	}
	s.Commit = deriveCommit(s.VM, s.Meminfo)
	s.THP = readTHP(c.Sys, &errs)
	if s.Cgroup, err = readCgroup(c.Sys, filepath.Join(c.Proc, "self")); err != nil {
		errs.add("cgroup", err)
	}
	s.Container = inContainer(e.rootFS, e.getenv, s.Cgroup)
	s.Processes, s.Running, s.Totals = readProcesses(c, &errs)
	if c.Redis != nil {
		s.RedisAddr = c.Redis.Addr
		if s.Redis, err = readRedis(ctx, c.Redis); err != nil {
			errs.add("redis", err)
		}
	}
	if c.Postgres != nil {
		if s.Postgres, err = readPostgres(ctx, c.Postgres); err != nil {
			errs.add("postgres", err)
		}
	}
	s.Commit.LeakSuspected = leakSuspected(s.Kernel, s.Meminfo)
	s.Recommend = Recommend(s)
	s.Forecast = Forecast(s)
	if e.confirmForks(&s) {
		s.Forecast = Forecast(s)
	}
	s.Errors = errs
	e.logChanges(errs)
	return s
}

// logChanges logs a failing read when it starts, changes or clears, not at every
// snapshot.
func (e *Enricher) logChanges(errs readErrors) {
	now := make(map[string]string, len(errs))
	for _, r := range errs {
		now[r.What] = r.Err
		if prev, ok := e.failing[r.What]; !ok || prev != r.Err {
			e.log.Warn("snapshot read failing", zap.String("what", r.What), zap.String("error", r.Err))
		}
	}
	for what := range e.failing {
		if _, ok := now[what]; !ok {
			e.log.Info("snapshot read recovered", zap.String("what", what))
		}
	}
	e.failing = now
}

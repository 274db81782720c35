package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/internal/memtrim"
	"github.com/cowbell-sidecar/cowbell/pipeline"
	"github.com/cowbell-sidecar/cowbell/state"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Watch the logs and notify (the daemon)",
		Long: `Run cowbell. With no --config it runs on embedded defaults: the built-in rule pack,
the console notifier, the journal if one is readable, the usual Redis and PostgreSQL
log locations and container log directories that exist; it prints what it watches.

SIGHUP reloads the configuration and the rules: a configuration that does not load
is refused, its errors logged, and the running one kept. SIGTERM and SIGINT stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			graceful.Store(true)
			// SIGHUP is taken before anything else: its default would end cowbell.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			level := zap.NewAtomicLevel()
			log, err := newLogger(c.Log, level)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			d := &daemon{g: g, log: log, level: level, out: cmd.ErrOrStderr(), hup: hup, notify: sdNotify}
			return d.run(cmd.Context(), c)
		},
	}
}

// daemon is `cowbell run`: one pipeline at a time on one open store, built again on
// SIGHUP, and what it tells the service manager and /metrics about itself.
type daemon struct {
	g      *globals
	log    *zap.Logger
	level  zap.AtomicLevel
	out    io.Writer
	hup    <-chan os.Signal
	notify func(state string) // sd_notify; a no-op outside systemd

	reg     *prometheus.Registry
	metrics daemonMetrics
	current atomic.Pointer[pipeline.Pipeline]
}

// run runs pipelines until ctx is done: the first from c, then each configuration a
// SIGHUP loads.
func (d *daemon) run(ctx context.Context, c *config.Config) error {
	d.reg, d.metrics = newRegistry(func() facts.Snapshot {
		if p := d.current.Load(); p != nil {
			return p.Snapshot()
		}
		return facts.Snapshot{}
	})
	// A damaged store is moved aside and a fresh one started: a monitoring daemon
	// must come up. It is said loudly (an Error, a metric, STATUS=).
	st, recovered, err := state.OpenRecover(c.StateDir, d.log)
	if err != nil {
		return err
	}
	defer st.Close()
	if recovered != nil {
		d.metrics.storeRecovered.Set(1)
		d.notify("STATUS=state store damaged, moved aside to " + recovered.MovedTo + "; started afresh")
	}
	p, err := pipeline.Build(ctx, c, st, pipeline.Options{Log: d.log, Registry: d.reg})
	if err != nil {
		return err
	}
	d.current.Store(p)
	d.describe(c, p)
	if c.Metrics.Listen != "" {
		stop, err := serveHTTP(c.Metrics.Listen, d.reg, d.health, d.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	d.metrics.reloaded(true)
	d.log.Info("started", zap.String("state_dir", c.StateDir), zap.Int("rules", len(p.Rules())))
	defer d.log.Info("stopped")
	defer d.notify("STOPPING=1")
	for {
		next, nc, err := d.runUntilReload(ctx, p, c, st)
		if err != nil || next == nil {
			return err
		}
		p, c = next, nc
	}
}

// runUntilReload runs p until ctx is done (returning a nil pipeline) or a SIGHUP
// loads a configuration that builds (returning the new pipeline, once p has stopped
// and committed). A configuration that does not load leaves p running.
func (d *daemon) runUntilReload(ctx context.Context, p *pipeline.Pipeline, c *config.Config, st *state.Store) (*pipeline.Pipeline, *config.Config, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	status := make(chan struct{})
	go func() {
		defer close(status)
		every := watchdogInterval()
		t := time.NewTicker(reportTick(every))
		defer t.Stop()
		d.report(pctx, p, every, t.C)
	}()
	// Both goroutines end with pctx: it is cancelled before they are waited for,
	// also when the pipeline ended on its own with an error.
	defer func() { cancel(); <-status }()
	trimmed := make(chan struct{})
	go func() {
		defer close(trimmed)
		d.trim(pctx, p, c.Memory)
	}()
	defer func() { cancel(); <-trimmed }()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return nil, nil, err
		case <-d.hup:
			d.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=reloading the configuration", monotonicUsec()))
			d.log.Info("reloading the configuration")
			next, nc, err := d.load(ctx, c, st)
			d.metrics.reloaded(err == nil)
			if err != nil {
				d.log.Error("configuration refused, keeping the running one", zap.Error(err))
				d.notify("READY=1\nSTATUS=reload refused, running the previous configuration: " + oneLine(err))
				continue
			}
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				return nil, nil, err
			}
			d.current.Store(next)
			d.log.Info("configuration reloaded", zap.Int("rules", len(next.Rules())), zap.Int("sources", len(nc.Sources)),
				zap.Int("notifiers", len(nc.Notifiers)))
			return next, nc, nil
		}
	}
}

// load reads the configuration and the rules again and builds a pipeline on the open
// store; nothing of it runs yet. What cannot change without a restart is kept, and
// said.
func (d *daemon) load(ctx context.Context, old *config.Config, st *state.Store) (*pipeline.Pipeline, *config.Config, error) {
	c, err := d.g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if c.StateDir != old.StateDir {
		d.log.Warn("state_dir changes at the next start, not on reload", zap.String("state_dir", old.StateDir))
		c.StateDir = old.StateDir
	}
	if c.Metrics.Listen != old.Metrics.Listen || c.Log.Format != old.Log.Format {
		d.log.Warn("metrics.listen and log.format change at the next start, not on reload")
	}
	lvl, err := zapcore.ParseLevel(c.Log.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	p, err := pipeline.Build(ctx, c, st, pipeline.Options{Log: d.log, Registry: d.reg})
	if err != nil {
		return nil, nil, err
	}
	d.level.SetLevel(lvl)
	return p, c, nil
}

// running is what report watches of a running pipeline.
type running interface {
	SourcesSettled() <-chan struct{}
	Health() pipeline.Health
}

// report tells the service manager how the running pipeline is: READY=1 once every
// source has opened or failed, STATUS= when what it says changes, and WATCHDOG=1 only
// while the pipeline's loop goes round, so a wedged pipeline is restarted. every is
// WatchdogSec= (0 when off); each tick looks again.
func (d *daemon) report(ctx context.Context, p running, every time.Duration, tick <-chan time.Time) {
	select {
	case <-p.SourcesSettled():
	case <-ctx.Done():
		return
	}
	last := p.Health().Summary()
	d.notify("READY=1\nSTATUS=" + last)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick:
			h := p.Health()
			if s := h.Summary(); s != last {
				d.notify("STATUS=" + s)
				last = s
			}
			if every > 0 && now.Sub(h.Progress) < every/2 {
				d.notify("WATCHDOG=1")
			}
		}
	}
}

// trim gives back what only start-up used (internal/memtrim), m.TrimAfter after
// the sources have opened: at start, and after a reload, which compiles the rules
// again. It is done once, not over and over: what cowbell runs while it waits, and
// what it runs when an incident comes, stays mapped, so that under memory pressure,
// when it matters, the kernel does not take it first.
func (d *daemon) trim(ctx context.Context, p running, m config.Memory) {
	if m.TrimAfter <= 0 {
		return
	}
	select {
	case <-p.SourcesSettled():
	case <-ctx.Done():
		return
	}
	t := time.NewTimer(m.TrimAfter)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return
	}
	r, err := memtrim.Trim()
	if err != nil {
		d.log.Info("memory is not trimmed", zap.Error(err))
		return
	}
	d.log.Debug("memory trimmed", zap.Uint64("rss_before", r.Before.RSS), zap.Uint64("rss_after", r.After.RSS),
		zap.Uint64("file_before", r.Before.File), zap.Uint64("file_after", r.After.File),
		zap.Uint64("anon_before", r.Before.Anon), zap.Uint64("anon_after", r.After.Anon),
		zap.Uint64("program_unmapped", r.Unmapped))
}

// reportTick is how often report looks: often enough for the watchdog (half its
// interval), at least every 5s for STATUS=.
func reportTick(every time.Duration) time.Duration {
	if every > 0 {
		return min(5*time.Second, every/2)
	}
	return 5 * time.Second
}

// health is the running pipeline's state, for /readyz.
func (d *daemon) health() pipeline.Health {
	if p := d.current.Load(); p != nil {
		return p.Health()
	}
	return pipeline.Health{}
}

// describe says what cowbell watches, where it keeps state and whom it tells: as text
// on stderr, or as log entries when the log is JSON, so every line stays JSON.
func (d *daemon) describe(c *config.Config, p *pipeline.Pipeline) {
	from := "embedded defaults"
	if c.File != "" {
		from = c.File
	}
	probes := 0
	for _, r := range p.Rules() {
		if r.IsProbe() {
			probes++
		}
	}
	if c.Log.Format == "json" {
		d.log.Info("configuration", zap.String("version", version), zap.String("from", from),
			zap.Int("rules", len(p.Rules())), zap.Int("probes", probes), zap.String("state_dir", c.StateDir),
			zap.String("metrics", c.Metrics.Listen))
		for _, s := range c.Sources {
			d.log.Info("watching", zap.String("source", s.Name), zap.String("what", s.Describe()))
		}
		for _, n := range c.Notifiers {
			d.log.Info("notifying", zap.String("notifier", n.Name), zap.String("where", n.Describe()))
		}
		return
	}
	w := d.out
	fmt.Fprintf(w, "cowbell %s: configuration from %s\n", version, from)
	fmt.Fprintf(w, "  rules:     %d (%d probes)\n", len(p.Rules()), probes)
	if len(c.Sources) == 0 {
		fmt.Fprintf(w, "  watching:  no log sources (probes only)\n")
	}
	for _, s := range c.Sources {
		fmt.Fprintf(w, "  watching:  %s: %s\n", s.Name, s.Describe())
	}
	for _, n := range c.Notifiers {
		fmt.Fprintf(w, "  notifying: %s: %s\n", n.Name, n.Describe())
	}
	fmt.Fprintf(w, "  state:     %s\n", c.StateDir)
	if c.Metrics.Listen != "" {
		fmt.Fprintf(w, "  metrics:   http://%s/metrics (/healthz, /readyz)\n", c.Metrics.Listen)
	}
}

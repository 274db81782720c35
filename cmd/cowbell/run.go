package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cowbell-sidecar/cowbell/config"
	"github.com/cowbell-sidecar/cowbell/pipeline"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Watch the logs and notify (the daemon)",
		Long: `Run cowbell. With no --config it runs on embedded defaults: the built-in rule pack,
the console notifier, the journal if one is readable, the usual Redis and PostgreSQL
log locations and container log directories that exist; it prints what it watches.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.loadConfig()
			if err != nil {
				return err
			}
			log, err := newLogger(c.Log)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			quietRedis(log)
			return run(cmd.Context(), c, log, cmd.ErrOrStderr())
		},
	}
}

func run(ctx context.Context, c *config.Config, log *zap.Logger, out io.Writer) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := pipeline.New(ctx, c, pipeline.Options{Log: log, Registry: reg})
	if err != nil {
		return err
	}
	defer p.Close()
	describe(out, c, p)
	if c.Metrics.Listen != "" {
		stop, err := serveMetrics(c.Metrics.Listen, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	wdDone := make(chan struct{})
	go func() { defer close(wdDone); watchdog(wdCtx) }()
	defer func() { stopWatchdog(); <-wdDone }()
	log.Info("started", zap.String("state_dir", c.StateDir), zap.Int("rules", len(p.Rules())))
	err = p.Run(ctx)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	log.Info("stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// describe prints what cowbell watches, where it keeps state and whom it tells.
func describe(w io.Writer, c *config.Config, p *pipeline.Pipeline) {
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
		fmt.Fprintf(w, "  metrics:   http://%s/metrics\n", c.Metrics.Listen)
	}
}

func serveMetrics(addr string, reg *prometheus.Registry, log *zap.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// watchdog pings systemd's watchdog when WatchdogSec= is set.
func watchdog(ctx context.Context) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every == 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cowbell-sidecar/cowbell/facts"
	"github.com/cowbell-sidecar/cowbell/pipeline"
)

// sdNotify sends a state to the service manager ($NOTIFY_SOCKET); outside systemd it
// does nothing.
func sdNotify(state string) { _, _ = sd.SdNotify(false, state) }

// watchdogInterval is WatchdogSec= (0 when the watchdog is off).
func watchdogInterval() time.Duration {
	every, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return every
}

// monotonicUsec is CLOCK_MONOTONIC in µs, which RELOADING=1 carries for systemd 253+.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// oneLine makes an error fit a STATUS= line.
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", "; ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// daemonMetrics are `cowbell run`'s own series.
type daemonMetrics struct {
	reloadOK       prometheus.Gauge
	reloadTime     prometheus.Gauge
	storeRecovered prometheus.Gauge
}

// reloaded records a configuration load (the first one at start).
func (m daemonMetrics) reloaded(ok bool) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.SetToCurrentTime()
}

// newRegistry is the registry /metrics serves: Go and process metrics, the build,
// reloads, and the host's commit accounting from snap.
func newRegistry(snap func() facts.Snapshot) (*prometheus.Registry, daemonMetrics) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cowbell_build_info", Help: "Always 1; the labels say which cowbell runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "journal_reader": journalReaderName},
	})
	build.Set(1)
	m := daemonMetrics{
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cowbell_config_last_reload_successful", Help: "1 if the last configuration load (at start or on SIGHUP) succeeded.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cowbell_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully.",
		}),
		storeRecovered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cowbell_state_store_recovered",
			Help: "1 if the state store was found damaged at start, moved aside and started afresh: cursors, queued notifications and open incidents were lost.",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build, m.reloadOK, m.reloadTime, m.storeRecovered, pipeline.NewCommitCollector(snap))
	return reg, m
}

// serveHTTP serves /metrics, /healthz (the process answers) and /readyz (the running
// pipeline does its job: its sources open, its store writable, not every notifier
// dead-lettering; 503 with the reasons otherwise).
func serveHTTP(addr string, reg *prometheus.Registry, health func() pipeline.Health, log *zap.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		h := health()
		problems := h.Problems()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+strings.Join(problems, "\n")+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready: "+h.Summary()+"\n")
	})
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

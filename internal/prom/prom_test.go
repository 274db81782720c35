package prom

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRegisterAgainKeepsCounting(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	opts := prometheus.CounterOpts{Name: "cowbell_test_total", Help: "A test counter."}
	first := Register(reg, prometheus.NewCounter(opts))
	first.Add(3)
	again := Register(reg, prometheus.NewCounter(opts))
	again.Inc()
	require.Equal(t, 4.0, testutil.ToFloat64(first), "the second registration is the first counter")
	require.NotPanics(t, func() { Register[prometheus.Counter](nil, prometheus.NewCounter(opts)) })
	require.Panics(t, func() {
		Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "cowbell_test_total", Help: "A gauge of the same name."}))
	})
}

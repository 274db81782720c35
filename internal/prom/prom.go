// Package prom registers cowbell's metrics so that a stage built again on the same
// registry (a reload builds a new pipeline) keeps counting on the series it had.
package prom

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it, or returns the collector of the same
// description registered before (a stage built again). A nil reg registers nothing.
// Two different collectors under one name is a programming error, and panics, as
// MustRegister does.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

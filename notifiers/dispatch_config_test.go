package notifiers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/cowbell-sidecar/cowbell/notifiers"
)

func TestDispatcherConfigYAML(t *testing.T) {
	def := notifiers.DefaultDispatcherConfig
	tests := []struct {
		name    string
		yaml    string
		want    func(c *notifiers.DispatcherConfig)
		wantErr string
	}{
		{"defaults", "{}", func(*notifiers.DispatcherConfig) {}, ""},
		{"some set", "timeout: 3s\nmax_entries: 50\nmax_age: 1h\n", func(c *notifiers.DispatcherConfig) {
			c.Timeout, c.MaxEntries, c.MaxAge = 3*time.Second, 50, time.Hour
		}, ""},
		{"unknown field", "timeout: 3s\nmax_entrys: 5\n", nil, "2:1: unknown field \"max_entrys\""},
		{"not a duration", "timeout: 10\n", nil, "1: cannot unmarshal !!int `10` into time.Duration"},
		{"backoff order", "min_backoff: 2m\nmax_backoff: 1m\n", nil, "max_backoff (1m0s) must not be less than min_backoff (2m0s)"},
		{"zero bound", "max_entries: 0\n", nil, "max_entries must be positive"},
		{"negative age", "max_age: -1h\n", nil, "max_age must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got notifiers.DispatcherConfig
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			want := def
			tt.want(&want)
			require.Equal(t, want, got)
		})
	}
}

func TestBackoff(t *testing.T) {
	c := notifiers.DispatcherConfig{MinBackoff: time.Second, MaxBackoff: 10 * time.Second}
	tests := []struct {
		name       string
		failures   int
		jitter     float64
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first, no jitter", 1, 0, 0, 500 * time.Millisecond},
		{"first, full jitter", 1, 1, 0, time.Second},
		{"doubles", 3, 1, 0, 4 * time.Second},
		{"capped", 10, 1, 0, 10 * time.Second},
		{"capped after many", 1000, 0.5, 0, 7500 * time.Millisecond},
		{"retry-after longer", 1, 0, 30 * time.Second, 30 * time.Second},
		{"retry-after shorter", 5, 1, time.Second, 10 * time.Second},
		{"retry-after absurd", 1, 0, 1000 * time.Hour, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, c.Backoff(tt.failures, tt.jitter, tt.retryAfter))
		})
	}
}

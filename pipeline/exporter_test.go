package pipeline

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/cowbell-sidecar/cowbell/facts"
)

// TestForecastGauges: /metrics serves the forecasts with the headroom figures, one
// series per Redis, and leaves out what is not known (no climb, no fork room under
// mode 1, no copy-on-write forecast without INFO).
func TestForecastGauges(t *testing.T) {
	s := facts.Snapshot{
		VM:      map[string]int64{"overcommit_memory": 2},
		Meminfo: map[string]int64{"Committed_AS": 6 << 20, "CommitLimit": 10 << 20},
		Commit:  facts.Commit{Mode: 2, CommittedKB: 6 << 20, LimitKB: 10 << 20, HeadroomKB: 4 << 20},
		Forecast: facts.Forecast{
			Redis: []facts.RedisForecast{
				{Instance: "127.0.0.1:6379 (redis-server pid 812)", ForkChargeKB: 9 << 20, ForkRoomKB: 3 << 20, ForkRefused: true,
					CowKB: 1 << 20, CowFrom: "last save", RoomKB: 512 << 10, SaveOOM: true},
				{Instance: "redis-server pid 990", ForkChargeKB: 1 << 20, ForkRoomKB: 3 << 20, RoomKB: 8 << 20},
			},
			Postgres: facts.PostgresForecast{Known: true, PoolKB: 20 << 20, AvailableKB: 18 << 20, Refused: true},
			Commit: facts.CommitForecast{Samples: 120, SpanSeconds: 3600, GrowthKBPerHour: 3600, SecondsToLimit: 7200,
				Text: "Committed_AS moves"},
		},
	}
	c := NewCommitCollector(func() facts.Snapshot { return s })
	want := `
# HELP cowbell_commit_headroom_bytes CommitLimit - Committed_AS: what strict mode (mode 2) has left to promise.
# TYPE cowbell_commit_headroom_bytes gauge
cowbell_commit_headroom_bytes 4.294967296e+09
# HELP cowbell_commit_limit_eta_seconds Seconds until the fitted line of Committed_AS reaches CommitLimit less the admin reserve; absent while it is not climbing or the samples span less than 10 minutes, 0 when it is there.
# TYPE cowbell_commit_limit_eta_seconds gauge
cowbell_commit_limit_eta_seconds 7200
# HELP cowbell_committed_as_growth_bytes_per_second The fitted slope of Committed_AS (least squares, one-off spikes left out).
# TYPE cowbell_committed_as_growth_bytes_per_second gauge
cowbell_committed_as_growth_bytes_per_second 1024
# HELP cowbell_redis_fork_refused 1 when the next fork of this Redis would fail with ENOMEM.
# TYPE cowbell_redis_fork_refused gauge
cowbell_redis_fork_refused{redis="127.0.0.1:6379 (redis-server pid 812)"} 1
cowbell_redis_fork_refused{redis="redis-server pid 990"} 0
# HELP cowbell_redis_save_oom_forecast 1 when the copy-on-write is forecast to outgrow that room.
# TYPE cowbell_redis_save_oom_forecast gauge
cowbell_redis_save_oom_forecast{redis="127.0.0.1:6379 (redis-server pid 812)"} 1
# HELP cowbell_postgres_pool_refused 1 when a full pool would be refused under strict mode.
# TYPE cowbell_postgres_pool_refused gauge
cowbell_postgres_pool_refused 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"cowbell_commit_headroom_bytes", "cowbell_commit_limit_eta_seconds", "cowbell_committed_as_growth_bytes_per_second",
		"cowbell_redis_fork_refused", "cowbell_redis_save_oom_forecast", "cowbell_postgres_pool_refused"))

	s.Forecast.Commit.SecondsToLimit = -1
	s.Commit.Mode = 1
	s.Forecast.Redis = []facts.RedisForecast{{Instance: "redis-server pid 812", ForkChargeKB: 9 << 20, ForkRoomKB: -1}}
	s.Forecast.Postgres = facts.PostgresForecast{}
	for _, name := range []string{"cowbell_commit_limit_eta_seconds", "cowbell_redis_fork_room_bytes",
		"cowbell_redis_save_cow_forecast_bytes", "cowbell_postgres_pool_commit_bytes"} {
		require.Zero(t, testutil.CollectAndCount(c, name), name)
	}
	require.Equal(t, 1, testutil.CollectAndCount(c, "cowbell_redis_fork_charge_bytes"))
}
